"""The agents of this process: the offline one always, the Claude one when ANTHROPIC_API_KEY is set.

Without a choice in the request, a briefing goes to the Claude agent when there is one, else to
the offline agent. A caller may ask for a mode: the offline agent is always there; asking for
Claude without a key is FAILED_PRECONDITION.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.common.errors import FailedPrecondition
from services.orchestrator.agent.domain import Agent, AgentMode
from services.orchestrator.agent.offline import OfflineAgent
from services.orchestrator.config import ClaudeSettings

if TYPE_CHECKING:
    from services.orchestrator.agent.claude import ClaudeAgent


class AgentRegistry:
    """Holds one agent of each kind for every briefing (the Claude agent keeps HTTP pools)."""

    def __init__(self, claude: ClaudeSettings, *, tracing: bool) -> None:
        """Makes the Claude agent at start-up when its key is set.

        ``tracing``: whether the Anthropic SDK makes its own spans (only worth it when the
        process exports them).
        """
        self._offline = OfflineAgent()
        self._claude: ClaudeAgent | None = None
        if claude.anthropic_api_key is not None:
            # Imported here on purpose: the offline path never loads the Anthropic SDK.
            from services.orchestrator.agent.claude import ClaudeAgent  # noqa: PLC0415

            self._claude = ClaudeAgent(claude, tracing=tracing)

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
        """Closes the Claude agent's HTTP clients, if there is one."""
        if self._claude is not None:
            await self._claude.aclose()
