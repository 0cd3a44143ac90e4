"""Runs every benchmark in turn (`make bench`), or the ones named: `python -m bench embedder`.

Each benchmark runs in a process of its own so that one's model, threads and event loop do not
disturb the next one's numbers.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("embedder", "retriever", "agent", "security")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {BENCHMARKS}")
        return 2
    failed = []
    for name in names:
        print(f"== bench {name}", flush=True)
        code = f"from bench.{name} import main; main()"
        if subprocess.run([sys.executable, "-c", code], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
