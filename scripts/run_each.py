"""Runs named modules of a package one after another, each in a process of its own.

``make bench`` and ``make eval`` use it so that one benchmark's (or evaluation's) services,
models and threads do not disturb the next one's numbers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def run_each(package: str, available: Sequence[str], argv: Sequence[str]) -> int:
    """Runs ``python -m <package>.<name>`` for the names in ``argv`` (all when empty).

    Returns 2 for an unknown name, 1 when any run failed, else 0.
    """
    names = list(argv) or list(available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"unknown {package}(s): {', '.join(unknown)}; choose from {', '.join(available)}")
        return 2
    failed = []
    for name in names:
        print(f"== {package} {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"{package}.{name}"], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0
