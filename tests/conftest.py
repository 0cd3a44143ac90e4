"""Test-session set-up shared by every test package.

The tests start real services that inherit this process's environment. Variables that point a
service at production parts (a database, a Qdrant server, the Claude API, Vertex AI, a trace
collector) are removed here, so a developer's shell can never send the tests there: each test
that wants one of these parts sets it explicitly, pointing at a stand-in on loopback.
"""

from __future__ import annotations

import os

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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
