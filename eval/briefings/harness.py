"""Briefs the synthetic patients through the real stack, as `make demo` does.

The embedder, retriever and orchestrator run as separate processes on loopback ports
(services.launcher), with the embedded PostgreSQL and Qdrant local mode in a temporary folder;
the patients are seeded with the seed CLI (in a process of its own, whose exit stops the
embedded server it started) and the guideline corpus is ingested with the ingest CLI. Each
patient is then briefed over gRPC once per agent mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from briefing.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from google.protobuf import json_format

from services.launcher import running_stack

BRIEF_TIMEOUT_S = 300.0
CONCURRENT_BRIEFS = 4
INGEST_ATTEMPTS = 3
MODES = {
    "offline": orchestrator_pb2.AGENT_MODE_OFFLINE,
    "claude": orchestrator_pb2.AGENT_MODE_CLAUDE,
}


@dataclass
class ModeRun:
    """One agent mode's briefings, by patient id; a failed Brief is its status code."""

    mode: str
    briefings: dict[str, orchestrator_pb2.PatientBriefing] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


async def _run(args: Sequence[str], env: Mapping[str, str], what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{output.decode(errors='replace')[-3000:]}")


@contextlib.asynccontextmanager
async def evaluation_stack(
    folder: Path, patients: Path, corpus: Sequence[Path], env: Mapping[str, str] | None = None
) -> AsyncIterator[str]:
    """The three services over a seeded database and an ingested corpus in ``folder``; yields
    the Orchestrator's address."""
    stack_env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PG_DATA_DIR": str(folder / "pg"),
        "RETRIEVER_QDRANT_PATH": str(folder / "qdrant"),
        # This measures briefings, not ingestion: one Embed batch at a time keeps each call far
        # inside its deadline on a machine shared with other work.
        "RETRIEVER_INGEST_CONCURRENCY": "1",
        **(env or {}),
    }
    await _run(["-m", "services.orchestrator.patients.seed", str(patients)], stack_env, "seeding")
    async with running_stack(stack_env) as services:
        ingest_env = {**stack_env, "RETRIEVER_ADDR": services["retriever"].address}
        ingest = ["-m", "services.retriever.ingest", *map(str, corpus)]
        for attempt in range(1, INGEST_ATTEMPTS + 1):
            # On a loaded machine an Embed call of the ingestion can pass its deadline; a re-run
            # writes the same points again (their ids are fixed), so it is safe to repeat.
            try:
                await _run(ingest, ingest_env, "ingesting")
                break
            except RuntimeError:
                if attempt == INGEST_ATTEMPTS:
                    raise
        yield services["orchestrator"].address


async def brief_patients(
    orchestrator: str, patient_ids: Sequence[str], modes: Sequence[str]
) -> list[ModeRun]:
    """Every patient's briefing in every mode (a few at a time)."""
    runs = []
    limit = asyncio.Semaphore(CONCURRENT_BRIEFS)
    async with grpc.aio.insecure_channel(orchestrator) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorStub(channel)
        for mode in modes:
            run = ModeRun(mode)

            async def brief(patient_id: str, run: ModeRun = run) -> None:
                request = orchestrator_pb2.BriefRequest(
                    patient_id=patient_id,
                    options=orchestrator_pb2.BriefOptions(mode=MODES[run.mode]),
                )
                async with limit:
                    try:
                        response = await stub.Brief(request, timeout=BRIEF_TIMEOUT_S)
                    except grpc.aio.AioRpcError as exc:
                        run.errors[patient_id] = exc.code().name
                        return
                run.briefings[patient_id] = response.briefing

            await asyncio.gather(*(brief(pid) for pid in patient_ids))
            runs.append(run)
    return runs


def save_runs(runs: Sequence[ModeRun], path: Path) -> None:
    """The briefings as they came (protobuf JSON), to score again without the stack."""
    data = {
        run.mode: {
            "briefings": {
                pid: json_format.MessageToDict(briefing) for pid, briefing in run.briefings.items()
            },
            "errors": run.errors,
        }
        for run in runs
    }
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_runs(path: Path) -> list[ModeRun]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        ModeRun(
            mode,
            {
                pid: json_format.ParseDict(raw, orchestrator_pb2.PatientBriefing())
                for pid, raw in saved["briefings"].items()
            },
            dict(saved["errors"]),
        )
        for mode, saved in data.items()
    ]
