"""Runs every evaluation in turn (``make eval``), or the ones named: ``python -m eval retrieval``.

Each evaluation runs in a process of its own, as the benchmarks do, so that one's services and
models do not disturb the next one's numbers.
"""

from __future__ import annotations

import subprocess
import sys

EVALUATIONS = ("retrieval",)


def main(argv: list[str]) -> int:
    names = argv or list(EVALUATIONS)
    unknown = sorted(set(names) - set(EVALUATIONS))
    if unknown:
        print(f"unknown evaluation(s): {', '.join(unknown)}; choose from {EVALUATIONS}")
        return 2
    failed = []
    for name in names:
        print(f"== eval {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"eval.{name}"], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
