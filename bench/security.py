"""What TLS and auth cost: one hop and one briefing, with and without them, side by side.

Two stacks run at once (embedder, retriever with a small ingested corpus, orchestrator with
seeded patients, offline agent): one plaintext without auth, one with TLS everywhere, mutual
TLS between the services and auth on (certificates from a CA made for the run, an ES256 token
key made for the run). Rounds alternate between the stacks, so that load from elsewhere on the
machine falls on both alike. Measured from this process:

1. one hop, Embedder.GetModelInfo one call at a time: plaintext; TLS with a client
   certificate the embedder maps to its scope (how the retriever calls it); TLS with a client
   certificate and a bearer token verified on every call (how an external caller would);
2. Orchestrator.Brief one at a time, over patients in turn: plaintext against TLS + a token
   (inside, the orchestrator and the retriever call on with their certificates).

Targets: under 0.3 ms more per hop, under 5% more per briefing (p50s).
Results: bench/results/security.{json,png}, naming the machine and the commit.

    python -m bench security
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from briefing.v1 import embedder_pb2, embedder_pb2_grpc, orchestrator_pb2, orchestrator_pb2_grpc

from bench.agent import CORPUS, seed
from scripts import dev_ca, dev_token
from services.launcher import ServiceProcess, run_program, running_stack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ROUNDS = 6
HOPS_PER_ROUND = 300
BRIEFS_PER_ROUND = 12
WARM_UP = 20
HOP_TARGET_MS = 0.3
BRIEF_TARGET = 0.05
DOCUMENTS = CORPUS[:3]
BASE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LOG_FORMAT": "json",
    "ANTHROPIC_API_KEY": "",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "",
}

Call = Callable[[], Awaitable[object]]


async def _ingest(retriever: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.retriever.ingest",
        *map(str, DOCUMENTS),
        env={**os.environ, **env, "RETRIEVER_ADDR": retriever},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"ingest failed:\n{output.decode(errors='replace')[-2000:]}")


@contextlib.asynccontextmanager
async def stack(
    folder: Path, env: dict[str, str], tls_dir: Path | None, ingest_env: dict[str, str]
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """A stack of the three services in ``folder``, seeded and with the corpus ingested."""
    await seed(folder / "pg")
    stack_env = {
        **BASE_ENV,
        **env,
        "RETRIEVER_QDRANT_PATH": str(folder / "qdrant"),
        "PG_DATA_DIR": str(folder / "pg"),
    }
    async with running_stack(stack_env, tls_dir=tls_dir) as services:
        await _ingest(services["retriever"].address, {**BASE_ENV, **ingest_env})
        yield services


async def timed(call: Call, count: int) -> list[float]:
    """Milliseconds of ``count`` calls made one after another."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p50(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "node": platform.node(),
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


async def run(folder: Path) -> dict[str, Any]:
    pki = folder / "pki"
    ca = dev_ca.load_or_create_ca(pki)
    for name in dev_ca.NAMES:
        dev_ca.issue(ca, pki, name)
    key = dev_token.signing_key(folder / "token-key")
    auth_env = {
        "AUTH_JWT_PUBLIC_KEY_FILE": str(folder / "token-key" / "public-key.pem"),
        "AUTH_ISSUER": dev_token.DEV_ISSUER,
        "AUTH_AUDIENCE": dev_token.DEV_AUDIENCE,
        "AUTH_ALGORITHMS": "ES256",
    }

    def token(scopes: str) -> str:
        return dev_token.mint(key, scopes.split(), "bench", 3600)

    client_tls = {
        "TLS_CA_FILE": str(pki / "ca.pem"),
        "TLS_CERT_FILE": str(pki / "client.pem"),
        "TLS_KEY_FILE": str(pki / "client-key.pem"),
    }

    def channel_credentials(name: str | None) -> grpc.ChannelCredentials:
        root = (pki / "ca.pem").read_bytes()
        if name is None:
            return grpc.ssl_channel_credentials(root)
        key_pem, cert_pem = (
            (pki / f"{name}-key.pem").read_bytes(),
            (pki / f"{name}.pem").read_bytes(),
        )
        return grpc.ssl_channel_credentials(root, key_pem, cert_pem)

    load_before = os.getloadavg()
    print("starting the plaintext and the secured stacks", flush=True)
    async with (
        stack(folder / "plain", {}, None, {}) as plain,
        stack(
            folder / "secure",
            auth_env,
            pki,
            {**client_tls, "AUTH_TOKEN": token("guidelines:write")},
        ) as secure,
        contextlib.AsyncExitStack() as channels,
    ):

        async def open_channel(
            address: str, credentials: grpc.ChannelCredentials | None
        ) -> grpc.aio.Channel:
            channel = (
                grpc.aio.insecure_channel(address)
                if credentials is None
                else grpc.aio.secure_channel(address, credentials)
            )
            return await channels.enter_async_context(channel)

        info = embedder_pb2.GetModelInfoRequest()
        embed_token = (("authorization", f"Bearer {token('embeddings')}"),)
        hop_plain = embedder_pb2_grpc.EmbedderStub(
            await open_channel(plain["embedder"].address, None)
        )
        hop_cert = embedder_pb2_grpc.EmbedderStub(
            await open_channel(secure["embedder"].address, channel_credentials("retriever"))
        )
        hop_token = embedder_pb2_grpc.EmbedderStub(
            await open_channel(secure["embedder"].address, channel_credentials("client"))
        )
        hops: dict[str, Call] = {
            "plaintext": lambda: hop_plain.GetModelInfo(info, timeout=10),
            "tls_certificate": lambda: hop_cert.GetModelInfo(info, timeout=10),
            "tls_token": lambda: hop_token.GetModelInfo(info, metadata=embed_token, timeout=10),
        }
        brief_plain = orchestrator_pb2_grpc.OrchestratorStub(
            await open_channel(plain["orchestrator"].address, None)
        )
        brief_secure = orchestrator_pb2_grpc.OrchestratorStub(
            await open_channel(secure["orchestrator"].address, channel_credentials(None))
        )
        brief_token = (("authorization", f"Bearer {token('briefing:read')}"),)
        patients = [f"bench-{number:04d}" for number in range(BRIEFS_PER_ROUND)]

        def briefs(stub: orchestrator_pb2_grpc.OrchestratorAsyncStub, secured: bool) -> Call:
            metadata = brief_token if secured else None
            queue = iter(patients * (ROUNDS + 2))

            async def one() -> object:
                request = orchestrator_pb2.BriefRequest(patient_id=next(queue))
                return await stub.Brief(request, metadata=metadata, timeout=120)

            return one

        brief_calls: dict[str, Call] = {
            "plaintext": briefs(brief_plain, secured=False),
            "tls_token": briefs(brief_secure, secured=True),
        }
        for call in hops.values():
            await timed(call, WARM_UP)
        for call in brief_calls.values():
            await timed(call, BRIEFS_PER_ROUND)  # every patient once: caches warm alike
        hop_ms: dict[str, list[float]] = {name: [] for name in hops}
        brief_ms: dict[str, list[float]] = {name: [] for name in brief_calls}
        for number in range(ROUNDS):
            order = list(hops) if number % 2 == 0 else list(reversed(hops))
            for name in order:
                hop_ms[name] += await timed(hops[name], HOPS_PER_ROUND)
            order = list(brief_calls) if number % 2 == 0 else list(reversed(brief_calls))
            for name in order:
                brief_ms[name] += await timed(brief_calls[name], BRIEFS_PER_ROUND)
            print(
                f"round {number + 1}/{ROUNDS}: hop p50 "
                + ", ".join(f"{n} {_p50(v):.3f} ms" for n, v in hop_ms.items())
                + "; brief p50 "
                + ", ".join(f"{n} {_p50(v):.1f} ms" for n, v in brief_ms.items()),
                flush=True,
            )
    return summarise(hop_ms, brief_ms, load_before, os.getloadavg())


def summarise(
    hop_ms: dict[str, list[float]],
    brief_ms: dict[str, list[float]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> dict[str, Any]:
    hop = {name: {"p50_ms": _p50(v), "calls": len(v)} for name, v in hop_ms.items()}
    brief = {name: {"p50_ms": _p50(v), "calls": len(v)} for name, v in brief_ms.items()}
    plain_hop = hop["plaintext"]["p50_ms"]
    hop_extra = {name: hop[name]["p50_ms"] - plain_hop for name in ("tls_certificate", "tls_token")}
    brief_extra = brief["tls_token"]["p50_ms"] / brief["plaintext"]["p50_ms"] - 1
    return {
        "hop_embedder_get_model_info": hop,
        "hop_extra_ms": hop_extra,
        "brief_offline_agent": brief,
        "brief_extra_fraction": brief_extra,
        "targets": {
            f"hop extra (token) < {HOP_TARGET_MS} ms": hop_extra["tls_token"] < HOP_TARGET_MS,
            f"hop extra (certificate) < {HOP_TARGET_MS} ms": (
                hop_extra["tls_certificate"] < HOP_TARGET_MS
            ),
            f"brief extra < {BRIEF_TARGET:.0%}": brief_extra < BRIEF_TARGET,
        },
        "settings": {
            "rounds": ROUNDS,
            "hops_per_round": HOPS_PER_ROUND,
            "briefs_per_round": BRIEFS_PER_ROUND,
            "documents": [path.name for path in DOCUMENTS],
            "token_algorithm": dev_token.ALGORITHM,
        },
        "machine": {
            **machine(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "commit": commit(),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    hop = results["hop_embedder_get_model_info"]
    names = list(hop)
    values = [hop[name]["p50_ms"] for name in names]
    left.bar(names, values, color=["#999999", "#2a6fb0", "#5aa05a"])
    left.set_ylabel("p50 ms")
    left.set_title("One hop: Embedder.GetModelInfo")
    for x, value in enumerate(values):
        left.text(x, value, f"{value:.3f}", ha="center", va="bottom")
    brief = results["brief_offline_agent"]
    names = list(brief)
    values = [brief[name]["p50_ms"] for name in names]
    right.bar(names, values, color=["#999999", "#5aa05a"])
    right.set_ylabel("p50 ms")
    right.set_title(f"Orchestrator.Brief ({results['brief_extra_fraction']:+.1%} with TLS + auth)")
    for x, value in enumerate(values):
        right.text(x, value, f"{value:.1f}", ha="center", va="bottom")
    where = results["machine"]
    figure.suptitle(
        f"{where['node']} ({where['cpu']}, {where['cpus']} CPUs), commit {results['commit'][:12]}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-security-") as folder:
        results = run_program(run(Path(folder)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "security.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "security.png")
    print(
        json.dumps(
            {k: results[k] for k in ("hop_extra_ms", "brief_extra_fraction", "targets")}, indent=2
        )
    )


if __name__ == "__main__":
    main()
