"""`make trace`: trace one briefing across the three services and draw its spans in the terminal.

Starts an OTLP receiver in this process and the embedder, retriever and orchestrator (each
exporting its spans to the receiver, PostgreSQL and Qdrant in var/ as for `make demo`), ingests
data/guidelines (a re-run adds nothing), asks for one briefing with a ``traceparent`` whose trace
id it chose, stops the services (each flushes its spans as it stops, so the trace is complete)
and prints the trace's span tree: durations, and a bar per span on the trace's time axis, so
that the agent's gathered searches show as overlapping bars. With ``--agent claude``
(ANTHROPIC_API_KEY set) the Anthropic SDK's ``anthropic.messages.create`` spans appear under the
agent turn that made each request. Spans carry no patient data (services.common.telemetry);
only the patient id typed on the command line is printed back.

    python -m services.tracing [PATIENT_ID] [--agent offline|claude] [--corpus DIR | --no-ingest]
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc

from services.common.channels import MethodPolicy, create_channel
from services.demo import ingest
from services.launcher import LaunchError, run_program, running_stack, stack_env
from services.tracing.receiver import OtlpReceiver, ReceivedSpan
from services.tracing.tree import build_tree, render_gathered, render_tree

ROOT = Path(__file__).resolve().parents[2]
BRIEF_TIMEOUT_S = 180.0
AGENTS = {
    "offline": orchestrator_pb2.AGENT_MODE_OFFLINE,
    "claude": orchestrator_pb2.AGENT_MODE_CLAUDE,
}


class IngestFailed(Exception):
    """The ingestion CLI reported failures."""


@dataclass(frozen=True)
class TracedBriefing:
    """One briefing and every span of its trace."""

    trace_id: str
    briefing: orchestrator_pb2.PatientBriefing
    spans: list[ReceivedSpan]


async def _brief(
    address: str, patient_id: str, mode: orchestrator_pb2.AgentMode, traceparent: str
) -> orchestrator_pb2.PatientBriefing:
    policies = {"Brief": MethodPolicy(timeout_s=BRIEF_TIMEOUT_S, idempotent=False)}
    async with create_channel(address, "briefing.v1.Orchestrator", policies) as channel:
        response = await orchestrator_pb2_grpc.OrchestratorStub(channel).Brief(
            orchestrator_pb2.BriefRequest(
                patient_id=patient_id, options=orchestrator_pb2.BriefOptions(mode=mode)
            ),
            metadata=(("traceparent", traceparent),),
        )
    return response.briefing


async def trace_briefing(
    patient_id: str,
    *,
    agent: str = "offline",
    corpus: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> TracedBriefing:
    """Starts the stack exporting to an in-process receiver, ingests ``corpus`` (unless None),
    briefs ``patient_id`` under a new trace id, stops the stack and returns the trace's spans.

    The Brief call's ``traceparent`` names a parent span that nobody exports, so the
    orchestrator's server span is the trace's one root.
    """
    receiver = await OtlpReceiver.start()
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    try:
        services_env = {
            **(env or {}),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        async with running_stack(services_env) as started:
            if corpus is not None and await ingest(corpus, stack_env(started)) != 0:
                raise IngestFailed(f"ingesting {corpus} reported failures (see above)")
            briefing = await _brief(
                started["orchestrator"].address,
                patient_id,
                AGENTS[agent],
                f"00-{trace_id}-{caller_span}-01",
            )
        # The services have stopped, and each flushed its spans to the receiver as it did.
        return TracedBriefing(trace_id, briefing, receiver.trace(trace_id))
    finally:
        await receiver.stop()


def render(traced: TracedBriefing) -> str:
    """The trace as text: a heading, the span tree, then the calls made together."""
    roots = build_tree(traced.spans)
    services = sorted({span.service for span in traced.spans})
    lines = [
        f"trace {traced.trace_id}: {len(traced.spans)} spans from {', '.join(services)}",
        "",
        *render_tree(roots),
    ]
    gathered = render_gathered(roots)
    if gathered:
        lines += ["", "calls made together:", *(f"  {line}" for line in gathered)]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.tracing", description=__doc__)
    parser.add_argument("patient_id", nargs="?", default="pt-0001")
    parser.add_argument("--agent", choices=sorted(AGENTS), default="offline")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "guidelines")
    parser.add_argument("--no-ingest", action="store_true", help="use the store as it is")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    print(f"== tracing a briefing of {args.patient_id} ({args.agent} agent)", flush=True)
    try:
        traced = await trace_briefing(
            args.patient_id, agent=args.agent, corpus=None if args.no_ingest else args.corpus
        )
    except LaunchError as exc:
        print(f"could not start the services: {exc}", file=sys.stderr)
        return 1
    except IngestFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as exc:
        print(f"briefing failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(render(traced))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_program(_run(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
