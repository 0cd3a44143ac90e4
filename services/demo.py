"""`make demo`: a real briefing end to end on the embedded defaults.

Starts the embedder, retriever and orchestrator as separate processes (PostgreSQL and Qdrant in
folders under var/), ingests data/guidelines through the Retriever (a re-run adds nothing),
asks the Orchestrator for a demo patient's briefing over gRPC with progress events, and prints
the briefing and where the time went. `make demo` seeds the patients first (`make seed`).

    python -m services.demo [PATIENT_ID ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from services.launcher import LaunchError, run_program, running_stack, stack_env
from services.orchestrator.client import fetch_briefing, render_briefing, render_event

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATIENTS = ("pt-0001",)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.demo")
    parser.add_argument("patient_ids", nargs="*", default=list(DEFAULT_PATIENTS))
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "guidelines")
    return parser.parse_args(argv)


async def ingest(corpus: Path, env: dict[str, str]) -> int:
    """Runs the ingestion CLI against the running Retriever; returns its exit code."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.retriever.ingest", str(corpus), env={**os.environ, **env}
    )
    return await child.wait()


async def demo(args: argparse.Namespace) -> int:
    print("== starting embedder, retriever and orchestrator", flush=True)
    try:
        async with running_stack() as started:
            env = stack_env(started)
            for name, proc in started.items():
                print(f"   {name:<13} {proc.address}", flush=True)
            print(f"== ingesting {args.corpus.relative_to(ROOT)}", flush=True)
            if await ingest(args.corpus, env) != 0:
                print("ingestion reported failures (see above)", file=sys.stderr)
                return 1
            for patient_id in args.patient_ids:
                print(f"\n== Orchestrator.BriefStream patient_id={patient_id}", flush=True)
                started_at = time.perf_counter()
                briefing = await fetch_briefing(
                    started["orchestrator"].address,
                    patient_id,
                    on_event=lambda event: print("   " + render_event(event), flush=True),
                )
                elapsed_ms = (time.perf_counter() - started_at) * 1000
                print()
                print(render_briefing(briefing))
                print(f"(round trip seen by the client: {elapsed_ms:.0f} ms)")
    except LaunchError as exc:
        print(f"could not start the services: {exc}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as exc:
        print(f"briefing failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_program(demo(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
