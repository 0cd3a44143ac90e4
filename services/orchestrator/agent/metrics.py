"""The agents' counters: turns by agent, tool calls by tool and result, Claude's tokens by type.

Tokens use the semantic conventions' ``gen_ai.client.token.usage`` histogram (one measurement
per turn and type), with two types beyond the conventions' ``input`` and ``output``:
``cache_read`` and ``cache_creation``, the prompt-cache figures of the Messages API's usage.
Attribute values are fixed names: never a query, a patient or the model's text.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import metrics
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_TOKEN_TYPE,
    GEN_AI_TOOL_NAME,
)
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import GEN_AI_CLIENT_TOKEN_USAGE

from services.common.metrics import COUNT_BUCKETS
from services.orchestrator.agent.domain import AgentMode, TokenUsage

AGENT_MODE: Final = "agent.mode"
TOOL_OK: Final = "agent.tool.ok"

_meter = metrics.get_meter(__name__)
_turns = _meter.create_counter(
    "agent.turns", unit="{turn}", description="Agent turns (model requests, for Claude) by agent."
)
_tool_calls = _meter.create_counter(
    "agent.tool_calls", unit="{call}", description="Tool calls the agents made, by tool and result."
)
_tokens = _meter.create_histogram(
    GEN_AI_CLIENT_TOKEN_USAGE,
    unit="{token}",
    description="Claude's tokens per turn, by type (input, output, cache_read, cache_creation).",
    explicit_bucket_boundaries_advisory=COUNT_BUCKETS,
)
_TURN_OF = {mode: {AGENT_MODE: mode.value} for mode in AgentMode}
_CLAUDE = {GEN_AI_PROVIDER_NAME: "anthropic", GEN_AI_OPERATION_NAME: "chat"}
_TOKEN_TYPES = {
    kind: {**_CLAUDE, GEN_AI_TOKEN_TYPE: kind}
    for kind in ("input", "output", "cache_read", "cache_creation")
}


def count_turn(mode: AgentMode) -> None:
    """One turn of ``mode``'s agent has started."""
    _turns.add(1, _TURN_OF[mode])


def count_tool_call(tool: str, ok: bool) -> None:
    """One tool call ended, with a result or an error."""
    _tool_calls.add(1, {GEN_AI_TOOL_NAME: tool, TOOL_OK: ok})


def record_tokens(usage: TokenUsage) -> None:
    """The tokens of one Claude turn, as its response's usage reported them."""
    _tokens.record(usage.input_tokens, _TOKEN_TYPES["input"])
    _tokens.record(usage.output_tokens, _TOKEN_TYPES["output"])
    _tokens.record(usage.cache_read_input_tokens, _TOKEN_TYPES["cache_read"])
    _tokens.record(usage.cache_creation_input_tokens, _TOKEN_TYPES["cache_creation"])
