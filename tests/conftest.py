"""Test-session set-up shared by every test package.

The tests start real services that inherit this process's environment. Variables that point a
service at production parts (a database, a Qdrant server, the Claude API, Vertex AI, a trace
collector) are removed here, so a developer's shell can never send the tests there: each test
that wants one of these parts sets it explicitly, pointing at a stand-in on loopback.

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

PRODUCTION_VARIABLES = (
    "DATABASE_URL",
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "EMBEDDER_BACKEND",
    "EMBEDDER_ADDR",
    "RETRIEVER_ADDR",
    "ORCHESTRATOR_ADDR",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

for name in PRODUCTION_VARIABLES:
    os.environ.pop(name, None)
_PG_ROOT = Path(tempfile.mkdtemp(prefix="tests-pg-"))
atexit.register(shutil.rmtree, _PG_ROOT, ignore_errors=True)
os.environ["PG_DATA_DIR"] = str(_PG_ROOT / "data")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
