"""``python -m services.orchestrator.client brief <patient-id>``: ask for a briefing, print it.

    python -m services.orchestrator.client brief demo-001            # readable text
    python -m services.orchestrator.client brief demo-001 --timings  # ... with every timing
    python -m services.orchestrator.client brief demo-001 --stream   # progress, then the text
    python -m services.orchestrator.client brief demo-001 --json     # the briefing as JSON

The Orchestrator is reached at ``--addr`` or ORCHESTRATOR_ADDR, over TLS when TLS_CA_FILE is
set, sending AUTH_TOKEN as the bearer token when it is set (``make token`` mints one). Citations
are numbered [1], [2] ... in the order of the briefing's sources list. :func:`render_briefing`
is what the demo uses: written for a doctor's terminal, it says first when the briefing rests on
the record alone, never breaks a URL across lines, merges warnings that say the same thing, and
sums the timings up one line per stage (``--timings``: the full table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence

import grpc
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc, retriever_pb2
from google.protobuf import json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from services.common.channels import MethodPolicy, create_channel
from services.common.config import ConfigError, ServiceAddresses, load_settings
from services.common.credentials import TransportCredentials, caller_credentials
from services.common.plaintext import plain_line
from services.orchestrator.briefing import GUIDELINES_UNAVAILABLE, NO_SEARCH

SERVICE_NAME: str = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name
# The health name of briefings resting on the guidelines: SERVING while the Retriever is too.
# SERVICE_NAME alone stays SERVING without it (briefings from the record alone).
WITH_GUIDELINES = f"{SERVICE_NAME}/guidelines"
WIDTH = 100
_MODES = {
    "auto": orchestrator_pb2.AGENT_MODE_UNSPECIFIED,
    "offline": orchestrator_pb2.AGENT_MODE_OFFLINE,
    "claude": orchestrator_pb2.AGENT_MODE_CLAUDE,
}


# The warning briefing.search_warnings writes per failed search.
_FAILED_SEARCH = re.compile(r"Guideline search (?P<call>\S+) failed: (?P<reason>.*)", re.DOTALL)


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    """Wrapped at WIDTH; a word longer than a line (a URL) is kept whole on its own line."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first if first is not None else indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first or indent]


def _enum(enum: EnumTypeWrapper, value: int, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix)


def _citations(ids: Sequence[str], numbers: dict[str, int], invalid: Sequence[str] = ()) -> str:
    marks = [f"[{numbers[i]}]" for i in ids if i in numbers]
    marks += [f"[?{i}]" for i in invalid]
    return (" " + "".join(marks)) if marks else ""


def grounding_notes(r: orchestrator_pb2.Recommendation) -> list[str]:
    """One line per grounding flag of a recommendation, saying what was not found."""
    notes = []
    for flag in r.grounding_flags:
        if flag.kind == orchestrator_pb2.GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER:
            notes.append(f"Numbers in no cited passage nor the record: {'; '.join(flag.unmatched)}")
        elif flag.kind == orchestrator_pb2.GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG:
            notes.append(f"Drugs in no cited passage nor the record: {'; '.join(flag.unmatched)}")
        elif flag.kind == orchestrator_pb2.GROUNDING_FLAG_KIND_WEAK_SUPPORT:
            if flag.HasField("similarity"):
                notes.append(
                    f"Weakly supported: far from its cited passages (similarity "
                    f"{flag.similarity:.2f})"
                )
            else:
                notes.append("Weakly supported: it cites no passage")
    return notes


def render_timings(briefing: orchestrator_pb2.PatientBriefing) -> str:
    """The timings as a table: stage, turn, tool call, start and duration in ms (one row each)."""
    header = f"{'stage':<18} {'turn':>4}  {'tool call':<16} {'start ms':>10} {'ms':>10}"
    rows = [header, "-" * len(header)]
    for t in briefing.timings:
        turn = str(t.turn) if t.turn else ""
        rows.append(
            f"{t.stage:<18} {turn:>4}  {t.tool_call_id[:16]:<16} "
            f"{t.start_ms:>10.1f} {t.duration_ms:>10.1f}"
        )
    return "\n".join(rows)


def summarize_timings(briefing: orchestrator_pb2.PatientBriefing) -> str:
    """One line per stage, in order of first appearance: how often, total and longest ms."""
    by_stage: dict[str, list[float]] = {}
    for t in briefing.timings:
        by_stage.setdefault(t.stage, []).append(t.duration_ms)
    rows = []
    for stage, durations in by_stage.items():
        if len(durations) == 1:
            rows.append(f"{stage:<18} {durations[0]:>10.1f} ms")
        else:
            rows.append(
                f"{stage:<18} {sum(durations):>10.1f} ms in {len(durations)}, "
                f"longest {max(durations):.1f} ms"
            )
    return "\n".join(rows)


def merge_warnings(warnings: Sequence[str]) -> list[str]:
    """The warnings to show, each once: the guidelines' absence is left out (said at the top),
    failed searches with the same reason become one line naming their calls, and repeated
    warnings one line with their count."""
    failed: dict[str, list[str]] = {}
    others: Counter[str] = Counter()
    for warning in warnings:
        if warning in (GUIDELINES_UNAVAILABLE, NO_SEARCH):
            continue
        match = _FAILED_SEARCH.fullmatch(warning)
        if match:
            failed.setdefault(match["reason"], []).append(match["call"])
        else:
            others[warning] += 1
    merged = [w if n == 1 else f"{w} ({n} times)" for w, n in others.items()]
    for reason, calls in failed.items():
        if len(calls) == 1:
            merged.append(f"Guideline search {calls[0]} failed: {reason}")
        else:
            merged.append(f"{len(calls)} guideline searches failed ({', '.join(calls)}): {reason}")
    return merged


def _guidelines_notice(briefing: orchestrator_pb2.PatientBriefing) -> list[str]:
    """The top line of a briefing that is not complete: what it rests on."""
    if briefing.completeness == orchestrator_pb2.BRIEFING_COMPLETENESS_PARTIAL_GUIDELINES:
        failed = sum(not search.ok for search in briefing.searches)
        notice = (
            f"Partial guidelines: {failed} of {len(briefing.searches)} guideline searches "
            "failed, so the briefing rests on the guidelines the others found."
        )
    elif briefing.guidelines_available:
        return []
    else:
        notice = NO_SEARCH if not briefing.searches else GUIDELINES_UNAVAILABLE
    return ["", *_wrap(f"!! {notice}", "   ")]


def render_briefing(
    briefing: orchestrator_pb2.PatientBriefing, *, full_timings: bool = False
) -> str:
    """The briefing as readable text, ending with the timings (summed up one line per stage,
    or the full table with ``full_timings``)."""
    numbers = {s.source_id: n for n, s in enumerate(briefing.sources, start=1)}
    mode = _enum(orchestrator_pb2.AgentMode, briefing.mode, "AGENT_MODE_").lower()
    made = briefing.generated_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
    agent = f"{mode} agent" + (f" ({briefing.model})" if briefing.model else "")
    lines = [
        f"Briefing for patient {briefing.patient_id}",
        f"{agent}, {briefing.turns_used} turn(s), generated {made}",
        *_guidelines_notice(briefing),
        "",
        "Summary",
        *_wrap(briefing.summary, "  "),
        "",
        "Active problems",
    ]
    for p in briefing.active_problems:
        since = f", since {p.onset_date}" if p.onset_date else ""
        lines += _wrap(f"{p.display} ({p.code}{since})", "    ", "  - ")
    lines += ["", "Medications"]
    for m in briefing.medications:
        lines += _wrap(m.display + (f": {m.dosage}" if m.dosage else ""), "    ", "  - ")
    lines += ["", "Alerts"]
    for a in briefing.alerts:
        severity = _enum(orchestrator_pb2.AlertSeverity, a.severity, "ALERT_SEVERITY_")
        text = f"[{severity}] {a.message}{_citations(a.source_ids, numbers)}"
        lines += _wrap(text, "    ", "  - ")
    lines += ["", "Recommendations"]
    for n, r in enumerate(briefing.recommendations, start=1):
        text = r.text + _citations(r.source_ids, numbers, r.invalid_source_ids)
        lines += _wrap(text, "     ", f"  {n}. ")
        if r.rationale:
            lines += _wrap(f"Why: {r.rationale}", "     ")
        for note in grounding_notes(r):
            lines += _wrap(f"!! {note}", "        ", "     ")
    lines += ["", "Sources"]
    for s in briefing.sources:
        # Source fields come from guideline files: printed as plain lines, never as terminal
        # escape sequences or control characters.
        path = [plain_line(heading) for heading in s.source.section_path]
        where = " > ".join(path[1:] or path)
        origin = ", ".join(str(x) for x in (plain_line(s.source.issuer), s.source.year or "") if x)
        text = plain_line(s.source.title) + (f" — {where}" if where else "") + f" ({origin})"
        lines += _wrap(text, "      ", f"  [{numbers[s.source_id]}] ")
        if url := plain_line(s.source.url):
            lines.append(f"      {url}")  # on a line of its own: never wrapped
    if briefing.searches:
        lines += ["", "Searches"]
        for search in briefing.searches:
            how = _enum(retriever_pb2.SearchMode, search.mode, "SEARCH_MODE_").lower()
            outcome = f"{how}, {search.hit_count} hit(s)" if search.ok else "failed"
            lines += _wrap(f'"{search.query}" ({outcome})', "    ", "  - ")
    warnings = merge_warnings(briefing.warnings)
    if warnings:
        lines += ["", "Warnings"]
        for w in warnings:
            lines += _wrap(w, "    ", "  - ")
    table = render_timings(briefing) if full_timings else summarize_timings(briefing)
    lines += ["", "Timings", *("  " + row for row in table.splitlines())]
    return "\n".join(lines)


def render_event(event: orchestrator_pb2.ProgressEvent) -> str:
    """One progress event as a line."""
    kind = _enum(orchestrator_pb2.ProgressEventType, event.type, "PROGRESS_EVENT_TYPE_")
    parts = [f"{event.elapsed_ms:9.1f} ms  {kind.lower()}"]
    if event.turn:
        parts.append(f"turn {event.turn}")
    if event.tool_call_id:
        parts.append(event.tool_call_id)
    if event.type == orchestrator_pb2.PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED:
        how = _enum(retriever_pb2.SearchMode, event.search_mode, "SEARCH_MODE_").lower()
        parts.append(f"ok={event.ok} hits={event.hit_count} mode={how}")
    if event.query:
        parts.append(f'"{event.query}"')
    return "  ".join(parts)


async def fetch_briefing(
    addr: str,
    patient_id: str,
    options: orchestrator_pb2.BriefOptions | None = None,
    timeout_s: float = 120.0,
    on_event: Callable[[orchestrator_pb2.ProgressEvent], None] | None = None,
    *,
    credentials: TransportCredentials | None = None,
) -> orchestrator_pb2.PatientBriefing:
    """One briefing from the Orchestrator at ``addr``; with ``on_event``, via BriefStream.

    ``credentials``: the channel's (default: the process's, without a token). Raises
    ``grpc.aio.AioRpcError`` when the call fails.
    """
    policies = {
        "Brief": MethodPolicy(timeout_s=timeout_s, idempotent=False),
        "BriefStream": MethodPolicy(timeout_s=timeout_s, idempotent=False),
    }
    async with create_channel(addr, SERVICE_NAME, policies, credentials) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        if on_event is None:
            request = orchestrator_pb2.BriefRequest(patient_id=patient_id, options=options)
            response = await stub.Brief(request, timeout=timeout_s)
            return response.briefing
        stream_request = orchestrator_pb2.BriefStreamRequest(patient_id=patient_id, options=options)
        async for message in stub.BriefStream(stream_request, timeout=timeout_s):
            if message.HasField("briefing"):
                return message.briefing
            on_event(message.progress)
    raise grpc.aio.UsageError("BriefStream ended without a briefing")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.orchestrator.client")
    commands = parser.add_subparsers(dest="command", required=True)
    brief = commands.add_parser("brief", help="ask for a patient's briefing and print it")
    brief.add_argument("patient_id")
    brief.add_argument(
        "--addr",
        default=load_settings(ServiceAddresses).orchestrator_addr,
        help="host:port (default: ORCHESTRATOR_ADDR)",
    )
    brief.add_argument("--json", action="store_true", help="print the briefing as JSON")
    brief.add_argument("--stream", action="store_true", help="show progress (BriefStream)")
    brief.add_argument(
        "--timings", action="store_true", help="every stage timing, not one line per stage"
    )
    brief.add_argument("--mode", choices=sorted(_MODES), default="auto")
    brief.add_argument("--max-turns", type=int, default=0, help="0: the server's default")
    brief.add_argument("--max-results", type=int, default=0, help="hits per search; 0: default")
    brief.add_argument("--timeout", type=float, default=120.0, help="deadline in seconds")
    return parser.parse_args(argv)


async def _brief(args: argparse.Namespace) -> int:
    options = orchestrator_pb2.BriefOptions(
        mode=_MODES[args.mode],
        max_turns=args.max_turns,
        max_results_per_search=args.max_results,
    )

    def show(event: orchestrator_pb2.ProgressEvent) -> None:
        print(render_event(event), file=sys.stderr, flush=True)

    try:
        credentials = caller_credentials()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        briefing = await fetch_briefing(
            args.addr,
            args.patient_id,
            options,
            args.timeout,
            show if args.stream else None,
            credentials=credentials,
        )
    except grpc.aio.AioRpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    if args.json:
        payload = json_format.MessageToDict(
            briefing, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(render_briefing(briefing, full_timings=args.timings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(_brief(args))


if __name__ == "__main__":
    sys.exit(main())
