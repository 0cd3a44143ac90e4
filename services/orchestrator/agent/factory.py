"""Chooses the agent of a briefing: Claude when ANTHROPIC_API_KEY is set, else offline.

The Claude agent is imported lazily, on first use, so the offline path never loads the SDK.
A caller may ask for a mode: the offline agent is always available; asking for Claude without
a key is FAILED_PRECONDITION.
"""

from __future__ import annotations

import importlib.util

from services.common.errors import FailedPrecondition
from services.orchestrator.agent.base import Agent, AgentMode
from services.orchestrator.agent.offline import OfflineAgent

CLAUDE_MODULE = "services.orchestrator.agent.claude"


class AgentFactory:
    """Holds one agent of each kind per process (the Claude agent keeps an HTTP pool)."""

    def __init__(self, claude_key_set: bool, tracing: bool = True) -> None:
        """Makes the Claude agent now when it is configured, so a bad setting stops start-up.

        ``tracing``: whether the Anthropic SDK makes its own spans (only worth it when the
        process exports them).
        """
        self._offline = OfflineAgent()
        self._claude: Agent | None = None
        if claude_key_set and importlib.util.find_spec(CLAUDE_MODULE) is not None:
            # Lazy on purpose: the offline path never loads the Anthropic SDK.
            from services.orchestrator.agent.claude import ClaudeAgent  # noqa: PLC0415

            self._claude = ClaudeAgent(tracing=tracing)

    @property
    def default_mode(self) -> AgentMode:
        return AgentMode.OFFLINE if self._claude is None else AgentMode.CLAUDE

    def get(self, requested: AgentMode | None = None) -> Agent:
        """The agent for ``requested`` (None: the server's choice)."""
        mode = requested or self.default_mode
        if mode is AgentMode.OFFLINE:
            return self._offline
        if self._claude is None:
            raise FailedPrecondition("the Claude agent is not configured (no ANTHROPIC_API_KEY)")
        return self._claude

    async def aclose(self) -> None:
        """Closes the Claude agent's HTTP client, if there is one."""
        closer = getattr(self._claude, "aclose", None)
        if closer is not None:
            await closer()
