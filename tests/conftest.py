"""Test-session set-up shared by every test package.

The tests start real services that inherit this process's environment. Every variable that
configures a service (its prefix, TLS and auth, the store engine, and those that point a service
at production parts: a database, a Qdrant server, the Claude API, Vertex AI, a trace collector)
is removed here, so a developer's shell can neither send the tests there nor change what they
run: each test that wants one of these sets it explicitly, pointing at a stand-in on loopback.

Services that open the database (the orchestrator, and the retriever for its audit trail) run
the embedded PostgreSQL of this session's own temporary folder unless a test names another one,
never the repository's ``var/postgres``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports grpc: tests that open the database in this process fork pg_ctl with
# gRPC running, as a service does, and get the same fork-handler setting (services/__init__).
import services  # noqa: F401

# Fixtures every package of tests may use.
pytest_plugins = ("tests.support.recording_embedder",)

SERVICE_VARIABLE_PREFIXES = (
    "EMBEDDER_",
    "RETRIEVER_",
    "ORCHESTRATOR_",
    "GATEWAY_",
    "TLS_",
    "AUTH_",
    "PG_",
    "QDRANT_",
    "ANTHROPIC_",
    "OTEL_",
)
SERVICE_VARIABLES = ("DATABASE_URL", "ALLOW_INSECURE")

for name in list(os.environ):
    if name.startswith(SERVICE_VARIABLE_PREFIXES) or name in SERVICE_VARIABLES:
        del os.environ[name]
_PG_ROOT = Path(tempfile.mkdtemp(prefix="tests-pg-"))
atexit.register(shutil.rmtree, _PG_ROOT, ignore_errors=True)
os.environ["PG_DATA_DIR"] = str(_PG_ROOT / "data")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
