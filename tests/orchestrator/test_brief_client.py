"""``python -m services.orchestrator.client brief``: readable text, JSON, progress, errors."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

from services.orchestrator.client import fetch_briefing, render_briefing
from services.orchestrator.patients.store import NOT_FOUND_MESSAGE
from tests.orchestrator.brief_support import RICH_ID
from tests.orchestrator.conftest import BASE_ENV, BriefingStack


async def _client(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.orchestrator.client",
        *args,
        env={**os.environ, **BASE_ENV},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_brief_prints_a_readable_briefing_with_numbered_citations(
    briefing_stack: BriefingStack,
) -> None:
    code, out, _ = await _client("brief", RICH_ID, "--addr", briefing_stack.orchestrator)
    assert code == 0
    headings = ["Summary", "Active problems", "Medications", "Alerts", "Recommendations"]
    positions = [out.index(f"\n{h}\n") for h in [*headings, "Sources", "Timings"]]
    assert positions == sorted(positions)
    sources = out[out.index("\nSources\n") : out.index("\nTimings\n")]
    numbers = [int(n) for n in re.findall(r"^  \[(\d+)\] ", sources, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and numbers
    recommendations = out[out.index("\nRecommendations\n") : out.index("\nSources\n")]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", recommendations)}
    assert cited and cited <= set(numbers)
    # Timings one line per stage (the full table is --timings: test_client_render).
    timings = out[out.index("\nTimings\n") :].strip().splitlines()[1:]
    assert timings[0].split()[0] == "patient_fetch"
    assert len({row.split()[0] for row in timings}) == len(timings)
    embed = next(row for row in timings if row.split()[0] == "tool_call.embed")
    assert re.fullmatch(r"\s+tool_call\.embed\s+[\d.]+ ms in \d+, longest [\d.]+ ms", embed)
    assert re.fullmatch(r"\s+total\s+[\d.]+ ms", timings[-1])


async def test_brief_json_and_stream(briefing_stack: BriefingStack) -> None:
    code, out, err = await _client(
        "brief", RICH_ID, "--addr", briefing_stack.orchestrator, "--json", "--stream"
    )
    assert code == 0
    body = json.loads(out)
    assert body["patient_id"] == RICH_ID and body["turns_used"] == 1
    progress = err.strip().splitlines()
    assert "patient_loaded" in progress[0]
    assert "briefing_ready" in progress[-1]
    assert any("tool_call_finished" in line and "ok=True" in line for line in progress)


async def test_a_failed_call_prints_the_status_and_exits_1(briefing_stack: BriefingStack) -> None:
    code, out, err = await _client(
        "brief", "no-such-patient", "--addr", briefing_stack.orchestrator
    )
    assert (code, out) == (1, "")
    assert err.strip() == f"error: NOT_FOUND: {NOT_FOUND_MESSAGE}"


async def test_render_briefing_is_what_the_demo_prints(briefing_stack: BriefingStack) -> None:
    briefing = await fetch_briefing(briefing_stack.orchestrator, RICH_ID)
    text = render_briefing(briefing)
    assert text.startswith(f"Briefing for patient {RICH_ID}\noffline agent, 1 turn(s)")
    for alert in briefing.alerts:
        assert alert.message.split()[0] in text
