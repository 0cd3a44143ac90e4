"""The loop-lag probe sees a blocked event loop."""

from __future__ import annotations

import asyncio
import time

from services.common.looplag import LoopLagProbe


def _busy(seconds: float) -> None:
    """CPU work on the loop's thread, the kind of blocking the probe is there to catch."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_probe_measures_a_blocked_loop() -> None:
    async with LoopLagProbe(interval_s=0.005, report_s=0.01) as probe:
        await asyncio.sleep(0.03)
        _busy(0.1)
        await asyncio.sleep(0.03)
    assert probe.max_ms >= 80
    assert len(probe.lags_s) >= 5
