"""``python -m services.embedder [--host H] [--port N]``; settings from ``EMBEDDER_*``."""

import sys

from services.common.server import run
from services.embedder.app import setup
from services.embedder.config import EmbedderSettings

if __name__ == "__main__":
    sys.exit(run("embedder", EmbedderSettings, setup))
