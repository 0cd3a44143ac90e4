"""Runs every benchmark in turn (`make bench`), or the ones named: `python -m bench embedder`
(`make bench BENCH=store_scale`)."""

from __future__ import annotations

import sys

from scripts.run_each import run_each

BENCHMARKS = ("embedder", "retriever", "agent", "security", "metrics", "store_scale")

if __name__ == "__main__":
    sys.exit(run_each("bench", BENCHMARKS, sys.argv[1:]))
