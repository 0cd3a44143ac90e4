"""The Claude agent: a tool-use loop on the Messages API that ends in a structured briefing.

Each turn is one Messages API request. The model searches the guidelines with
``search_clinical_guidelines``; the searches of one turn run concurrently through the
orchestrator's tool path (one ``GuidelineTools.search`` call) and their results go back in one
user message. The briefing arrives as the input of the ``submit_briefing`` tool, which is forced
(``tool_choice``) on the last allowed turn, and is validated before it becomes an AgentResult.

Prompt caching: the system prompt and the tool definitions carry a cache breakpoint (they are
the same for every patient). One more breakpoint goes on the conversation: on the newest user
message when the next turn sends the same ``tool_choice`` (it reads the earlier prefix and
writes this one for the next turn). A change of ``tool_choice`` invalidates the message cache
(the system prompt and tools stay cached), so the turn before a forced one only marks the
message the previous turn wrote, reading it without paying the write premium for a prefix the
forced turn could not read, and a forced turn after an unforced one marks none.

Outcomes by stop reason:

- ``tool_use``: run the tools, continue (or finish, when it is ``submit_briefing``);
- ``end_turn`` / ``stop_sequence`` without a briefing: ask again with the submit forced while
  turns remain, else FAILED_PRECONDITION;
- ``pause_turn``: send the reply back as it is and continue;
- ``max_tokens``: the cut reply is dropped (a cut tool call cannot be answered); while turns
  remain the model is asked, with the submit forced, for a concise briefing; in the last turn,
  or when the forced submit itself is cut, it is RESOURCE_EXHAUSTED naming CLAUDE_MAX_TOKENS;
- ``refusal``: FAILED_PRECONDITION; ``model_context_window_exceeded``: RESOURCE_EXHAUSTED.

API errors are retried by the SDK (CLAUDE_MAX_RETRIES, honouring ``retry-after``), then become
gRPC statuses: connection errors, 408, 409, 5xx and 529 UNAVAILABLE, 429 RESOURCE_EXHAUSTED,
timeouts DEADLINE_EXCEEDED, other 4xx FAILED_PRECONDITION; the message says how many retries
the SDK really made. Messages name statuses and error types only.

The record, the queries and the model's text are patient data: none of them is logged or put
on a span (the SDK's own spans are pinned to metadata only, its debug log is kept quiet).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from datetime import date
from typing import cast
from xml.sax.saxutils import escape

import anthropic
import httpx2
from anthropic import AsyncAnthropic, DefaultAioHttpClient
from anthropic.types import (
    CacheControlEphemeralParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
)
from pydantic import ValidationError

from services.common.config import ConfigError
from services.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    ResourceExhausted,
    ServiceError,
    Unavailable,
)
from services.common.limits import MAX_QUERY_CHARS, MAX_RESULTS_PER_SEARCH
from services.common.logging import get_logger
from services.orchestrator.agent.claude_prompt import (
    RETRY_SUBMIT_NOTE,
    SEARCH_TOOL_DEF,
    SUBMIT_TOOL,
    SUBMIT_TOOL_DEF,
    SYSTEM_PROMPT,
    SubmittedBriefing,
    first_message,
)
from services.orchestrator.agent.domain import (
    SEARCH_TOOL,
    AgentLimits,
    AgentMode,
    AgentResult,
    Alert,
    GuidelineTools,
    Progress,
    Recommendation,
    SearchCall,
    Severity,
    TokenUsage,
    TurnRecord,
)
from services.orchestrator.agent.metrics import count_turn, record_tokens
from services.orchestrator.agent.sources_xml import outcome_xml
from services.orchestrator.config import ClaudeSettings
from services.orchestrator.patients.models import PatientRecord

log = get_logger(__name__)

EPHEMERAL: CacheControlEphemeralParam = {"type": "ephemeral"}
SYSTEM: list[TextBlockParam] = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": EPHEMERAL}]
TOOLS: list[ToolParam] = [SEARCH_TOOL_DEF, {**SUBMIT_TOOL_DEF, "cache_control": EPHEMERAL}]
AUTO: ToolChoiceParam = {"type": "auto"}
FORCE_SUBMIT: ToolChoiceParam = {"type": "tool", "name": SUBMIT_TOOL}
CONNECTIONS_PER_CLIENT = 64
# 4xx answers that the SDK retries too (request timeout, conflict): worth trying again later.
TRANSIENT_STATUSES = frozenset({408, 409})
UserBlock = TextBlockParam | ToolResultBlockParam  # what the user messages of the loop hold


def _quiet_sdk_loggers() -> None:
    """At DEBUG (``ANTHROPIC_LOG=debug``) the SDK logs request bodies, i.e. the record."""
    for name in ("anthropic", "httpx2", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _retries_taken(exc: anthropic.APIError) -> int:
    """How many times the SDK retried: it numbers each attempt in a request header."""
    try:
        return int(exc.request.headers.get("x-stainless-retry-count", "0"))
    except ValueError:
        return 0


def api_error(exc: anthropic.APIError) -> ServiceError:
    """The gRPC-status error for a failed Messages API request (no request content in it)."""
    retries = _retries_taken(exc)
    after = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    if isinstance(exc, anthropic.APITimeoutError):
        return DeadlineExceeded(f"Claude API did not answer in time{after}")
    if isinstance(exc, anthropic.APIConnectionError):
        return Unavailable(f"Claude API unreachable{after}")
    if not isinstance(exc, anthropic.APIStatusError):
        return Unavailable(f"Claude API answered unexpectedly ({type(exc).__name__})")
    what = f"Claude API answered {exc.status_code} {exc.type or 'error'}"
    if exc.request_id:
        what += f" (request id {exc.request_id})"
    if isinstance(exc, anthropic.RateLimitError):
        return ResourceExhausted(f"{what}{after}: rate limited")
    if exc.status_code >= 500 or exc.status_code in TRANSIENT_STATUSES:
        return Unavailable(f"{what}{after}")
    hints = {
        401: "check ANTHROPIC_API_KEY",
        403: "check ANTHROPIC_API_KEY's permissions",
        404: "check CLAUDE_MODEL and ANTHROPIC_BASE_URL",
        413: "the request is too large",
    }
    return FailedPrecondition(f"{what}: {hints.get(exc.status_code, 'request refused')}")


def _search_call(block: ToolUseBlock, cap: int) -> SearchCall | str:
    """The search a tool_use block asks for, or the tool error that answers it."""
    query = block.input.get("query")
    if not isinstance(query, str) or not query.strip():
        return "invalid input: 'query' must be a non-empty string"
    if len(query) > MAX_QUERY_CHARS:
        return f"invalid input: 'query' must be at most {MAX_QUERY_CHARS} characters"
    low, high = 1, MAX_RESULTS_PER_SEARCH
    requested = block.input.get("max_results", cap)
    if isinstance(requested, bool) or not isinstance(requested, int):
        return f"invalid input: 'max_results' must be an integer from {low} to {high}"
    if not low <= requested <= high:
        return f"invalid input: 'max_results' must be an integer from {low} to {high}"
    return SearchCall(call_id=block.id, query=query.strip(), max_results=min(requested, cap))


def _tool_error(tool_use_id: str, message: str) -> ToolResultBlockParam:
    return {
        "type": "tool_result",
        "tool_use_id": tool_use_id,
        "content": f"<error>{escape(message)}</error>",
        "is_error": True,
    }


def _validation_summary(exc: ValidationError) -> str:
    """Where the briefing is wrong, without echoing its content."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'input'}: {error['msg']}"
        for error in exc.errors()[:10]
    )


class ClaudeAgent:
    """Writes briefings with Claude; one instance (its HTTP connection pools) per process."""

    mode = AgentMode.CLAUDE

    def __init__(
        self,
        settings: ClaudeSettings,
        *,
        today: Callable[[], date] = date.today,
        tracing: bool = True,
    ) -> None:
        """``tracing=False`` turns off the SDK's own spans: with no exporter they would only
        spend CPU on every request."""
        if settings.anthropic_api_key is None:
            raise ConfigError("the Claude agent needs ANTHROPIC_API_KEY")
        self.settings = settings
        self.model = settings.claude_model
        self._api_key = settings.anthropic_api_key.get_secret_value()
        self._today = today
        self._tracing = tracing
        _quiet_sdk_loggers()
        # Requests go through the SDK's aiohttp transport (aiohttp is already a dependency):
        # measured at 500 concurrent briefings it costs ~17% less CPU per briefing than the
        # default HTTP pool. Connections are split over several clients, each with a bounded
        # pool (the default pool walked all its connections on every request); each briefing
        # keeps one client.
        total = self.settings.claude_max_connections
        shards = math.ceil(total / CONNECTIONS_PER_CLIENT)
        self._clients = [self._client(math.ceil(total / shards)) for _ in range(shards)]
        self._next_client = itertools.cycle(self._clients)

    def _client(self, connections: int) -> AsyncAnthropic:
        return AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.settings.anthropic_base_url,
            max_retries=self.settings.claude_max_retries,
            timeout=self.settings.claude_timeout_s,
            # Keep-alive for every connection a burst opens, so the next turn reuses them.
            http_client=DefaultAioHttpClient(
                limits=httpx2.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                )
            ),
            open_telemetry={"traces": {"content_mode": "metadata_only"}}
            if self._tracing
            else False,
        )

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()

    async def run(
        self,
        record: PatientRecord,
        tools: GuidelineTools,
        progress: Progress,
        limits: AgentLimits,
    ) -> AgentResult:
        opening = first_message(record, self._today(), self._max_turns(limits))
        client = next(self._next_client)
        conversation = _Conversation(
            self, client, tools=tools, progress=progress, limits=limits, opening=opening
        )
        return await conversation.run()

    def _max_turns(self, limits: AgentLimits) -> int:
        return max(1, min(limits.max_turns, self.settings.claude_max_turns))


class _Conversation:
    """The state of one briefing's loop."""

    def __init__(
        self,
        agent: ClaudeAgent,
        client: AsyncAnthropic,
        *,
        tools: GuidelineTools,
        progress: Progress,
        limits: AgentLimits,
        opening: str,
    ) -> None:
        self.client = client
        self.settings = agent.settings
        self.tools = tools
        self.progress = progress
        self.limits = limits
        self.max_turns = agent._max_turns(limits)
        self.messages: list[MessageParam] = [
            {"role": "user", "content": [{"type": "text", "text": opening}]}
        ]
        self.turns: list[TurnRecord] = []
        self.warnings: list[str] = []
        self.force_submit = False
        # (message index, forced) of the last cache breakpoint written into the conversation.
        self.written_mark: tuple[int, bool] | None = None
        self.model = self.settings.claude_model

    async def run(self) -> AgentResult:
        for turn in range(1, self.max_turns + 1):
            self.progress.turn_started(turn)
            count_turn(AgentMode.CLAUDE)
            last = turn == self.max_turns
            forced = last or self.force_submit
            response = await self._create(turn, forced, self._cache_mark(turn, forced))
            reason = response.stop_reason or "end_turn"
            self._record(turn, response, reason)
            if reason == "refusal":
                raise FailedPrecondition("Claude declined to write this briefing (refusal)")
            if reason == "model_context_window_exceeded":
                raise ResourceExhausted("the briefing conversation exceeded the model's context")
            if reason == "max_tokens":
                if last or forced:
                    # A cut forced submit would be asked again unchanged: the briefing does
                    # not fit, and another turn would only spend tokens on the same cut.
                    where = "in the last turn" if last else "while submitting the briefing"
                    raise ResourceExhausted(
                        f"Claude's reply reached CLAUDE_MAX_TOKENS="
                        f"{self.settings.claude_max_tokens} {where}"
                    )
                self.warnings.append(
                    f"turn {turn}: the reply reached CLAUDE_MAX_TOKENS and was dropped; "
                    "asked for a concise briefing"
                )
                self._ask_for_briefing()
                continue
            self.messages.append(response.to_param())
            if reason == "pause_turn":
                continue
            tool_uses = [block for block in response.content if isinstance(block, ToolUseBlock)]
            if tool_uses:
                briefing = await self._answer_tools(turn, tool_uses, last)
                if briefing is not None:
                    return self._result(briefing, turn)
            else:  # end_turn or stop_sequence, with no briefing
                self._ask_for_briefing()
        raise FailedPrecondition(f"Claude gave no briefing within {self.max_turns} turns")

    def _ask_for_briefing(self) -> None:
        """Forces submit_briefing next turn, with a note on the newest user message (once)."""
        if self.force_submit:
            return
        self.force_submit = True
        note: TextBlockParam = {"type": "text", "text": RETRY_SUBMIT_NOTE}
        last = self.messages[-1]
        if last["role"] == "user" and isinstance(last["content"], list):
            self.messages[-1] = {"role": "user", "content": [*last["content"], note]}
        else:
            self.messages.append({"role": "user", "content": [note]})

    def _cache_mark(self, turn: int, forced: bool) -> int | None:
        """Which message gets the conversation's cache breakpoint this turn, if any."""
        next_forced = turn + 1 == self.max_turns or self.force_submit
        if turn < self.max_turns and forced == next_forced and self._is_user(-1):
            index = len(self.messages) - 1
            self.written_mark = (index, forced)  # read by the next turn
            return index
        if self.written_mark is not None and self.written_mark[1] == forced:
            return self.written_mark[0]  # read only: this prefix is in the cache already
        return None

    def _is_user(self, index: int) -> bool:
        message = self.messages[index]
        return message["role"] == "user" and isinstance(message["content"], list)

    def _request_messages(self, mark: int | None) -> list[MessageParam]:
        """The conversation, with a cache breakpoint on the last block of message ``mark``."""
        messages = list(self.messages)
        if mark is not None:
            *before, final = cast(list[UserBlock], messages[mark]["content"])
            marked = final.copy()
            marked["cache_control"] = EPHEMERAL
            messages[mark] = {"role": "user", "content": [*before, marked]}
        return messages

    def _request_timeout_s(self, turn: int) -> float:
        """CLAUDE_TIMEOUT_S, or what the deadline leaves when that is less. (The deadline
        itself, enforced around the run, also bounds the SDK's retries and its waits.)"""
        timeout = self.settings.claude_timeout_s
        if self.limits.deadline is None:
            return timeout
        remaining = self.limits.deadline.remaining()
        if remaining <= 0:
            raise DeadlineExceeded(f"the deadline passed before agent turn {turn}")
        return min(timeout, remaining)

    async def _create(self, turn: int, forced: bool, cache_mark: int | None) -> Message:
        timeout = self._request_timeout_s(turn)
        try:
            return await self.client.messages.create(
                model=self.settings.claude_model,
                max_tokens=self.settings.claude_max_tokens,
                system=SYSTEM,
                tools=TOOLS,
                tool_choice=FORCE_SUBMIT if forced else AUTO,
                messages=self._request_messages(cache_mark),
                timeout=timeout,
            )
        except anthropic.APIError as exc:
            error = api_error(exc)
            log.warning("claude_request_failed", turn=turn, code=error.code.name)
            raise error from None

    def _record(self, turn: int, response: Message, reason: str) -> None:
        usage = response.usage
        tokens = TokenUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        )
        self.turns.append(TurnRecord(turn=turn, usage=tokens, stop_reason=reason))
        record_tokens(tokens)
        self.model = response.model or self.model
        log.debug(
            "claude_turn",
            turn=turn,
            stop_reason=reason,
            tool_calls=sum(isinstance(b, ToolUseBlock) for b in response.content),
            input_tokens=tokens.input_tokens,
            output_tokens=tokens.output_tokens,
            cache_write_tokens=tokens.cache_creation_input_tokens,
            cache_read_tokens=tokens.cache_read_input_tokens,
        )

    async def _answer_tools(
        self, turn: int, tool_uses: list[ToolUseBlock], last: bool
    ) -> SubmittedBriefing | None:
        """The briefing, if submitted; else runs the searches and sends back every result."""
        results: dict[str, ToolResultBlockParam] = {}
        calls: list[SearchCall] = []
        for block in tool_uses:
            if block.name == SUBMIT_TOOL:
                try:
                    return SubmittedBriefing.model_validate(block.input)
                except ValidationError as exc:
                    if last:
                        raise FailedPrecondition(
                            "Claude's briefing did not match the submit_briefing schema"
                        ) from None
                    self.warnings.append(f"turn {turn}: the submitted briefing was invalid")
                    results[block.id] = _tool_error(block.id, _validation_summary(exc))
            elif block.name == SEARCH_TOOL:
                call = _search_call(block, self.limits.max_results_per_search)
                if isinstance(call, str):
                    results[block.id] = _tool_error(block.id, call)
                else:
                    calls.append(call)
            else:
                results[block.id] = _tool_error(block.id, f"unknown tool; use {SEARCH_TOOL}")
        if calls:
            for outcome in await self.tools.search(calls, turn):
                results[outcome.call.call_id] = {
                    "type": "tool_result",
                    "tool_use_id": outcome.call.call_id,
                    "content": outcome_xml(outcome),
                    "is_error": not outcome.ok,
                }
        self.messages.append(
            {"role": "user", "content": [results[block.id] for block in tool_uses]}
        )
        if last:
            raise FailedPrecondition("Claude did not submit the briefing in the last turn")
        return None

    def _result(self, briefing: SubmittedBriefing, turn: int) -> AgentResult:
        """The submitted briefing, its citations as the model gave them."""
        return AgentResult(
            mode=AgentMode.CLAUDE,
            summary=briefing.summary,
            alerts=[
                Alert(Severity(a.severity), a.message, tuple(a.source_ids)) for a in briefing.alerts
            ],
            recommendations=[
                Recommendation(r.text, tuple(r.source_ids), r.rationale)
                for r in briefing.recommendations
            ],
            turns_used=turn,
            turns=self.turns,
            warnings=self.warnings,
            model=self.model,
        )
