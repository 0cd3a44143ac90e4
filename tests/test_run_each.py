"""`make bench` and `make eval` run their modules through scripts.run_each: a SIGTERM reaches the
module running, and nothing runs after it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SLOW_MODULE = """
import pathlib, signal, sys, time

def stop(signum, frame):
    pathlib.Path("slow-stopped").write_text("cleaned up")
    sys.exit(128 + signum)

signal.signal(signal.SIGTERM, stop)
print("slow started", flush=True)
time.sleep(60)
"""
RUNNER = (
    "import sys; from scripts.run_each import run_each; "
    "sys.exit(run_each('jobs', ['slow', 'next'], []))"
)


async def test_a_sigterm_is_passed_to_the_module_running_and_ends_the_run(tmp_path: Path) -> None:
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(SLOW_MODULE)
    (package / "next.py").write_text("import pathlib; pathlib.Path('next-ran').write_text('')\n")
    runner = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUNNER,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
        stdout=asyncio.subprocess.PIPE,
    )
    assert runner.stdout is not None
    while b"slow started" not in await asyncio.wait_for(runner.stdout.readline(), 30):
        pass
    runner.send_signal(signal.SIGTERM)
    said = (await asyncio.wait_for(runner.stdout.read(), 30)).decode()

    assert await runner.wait() == 128 + signal.SIGTERM
    assert "terminated during jobs slow" in said
    assert (tmp_path / "slow-stopped").read_text() == "cleaned up"
    assert not (tmp_path / "next-ran").exists()
