"""``python -m services.orchestrator [--host H] [--port N]``; settings from ``ORCHESTRATOR_*``,
``DATABASE_URL``, ``RETRIEVER_ADDR`` and the Claude agent's ``ANTHROPIC_*``/``CLAUDE_*``."""

import sys

from services.common.server import run
from services.orchestrator.app import setup
from services.orchestrator.config import OrchestratorSettings

if __name__ == "__main__":
    sys.exit(run("orchestrator", OrchestratorSettings, setup))
