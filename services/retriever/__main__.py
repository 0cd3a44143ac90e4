"""``python -m services.retriever [--host H] [--port N]``; settings in :mod:`.config`."""

import sys

from services.common.server import run
from services.retriever.app import setup
from services.retriever.config import RetrieverSettings

if __name__ == "__main__":
    sys.exit(run("retriever", RetrieverSettings, setup))
