"""Runs named modules of a package one after another, each in a process of its own.

``make bench`` and ``make eval`` use it so that one benchmark's (or evaluation's) services,
models and threads do not disturb the next one's numbers. A SIGTERM is passed on to the module
running, which stops the services it started (:func:`services.launcher.run_program`), and no
further module is started.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType


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
        code, terminated = _run_module(f"{package}.{name}")
        if terminated:
            print(f"terminated during {package} {name}")
            return 128 + signal.SIGTERM
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def _run_module(module: str) -> tuple[int, bool]:
    """``python -m module``'s exit code, and whether a SIGTERM came meanwhile (passed on to it)."""
    child = subprocess.Popen([sys.executable, "-m", module])
    terminated = False

    def pass_on(signum: int, frame: FrameType | None) -> None:
        nonlocal terminated
        terminated = True
        child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, pass_on)
    try:
        return child.wait(), terminated
    finally:
        signal.signal(signal.SIGTERM, previous)
