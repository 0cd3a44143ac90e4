"""Runs every evaluation in turn (`make eval`), or the ones named: `python -m eval retrieval`."""

from __future__ import annotations

import sys

from scripts.run_each import run_each

EVALUATIONS = ("retrieval", "briefings")

if __name__ == "__main__":
    sys.exit(run_each("eval", EVALUATIONS, sys.argv[1:]))
