"""The one deadline of a briefing: what its timer stops and what it lets through."""

from __future__ import annotations

import asyncio

import pytest

from services.common.errors import DeadlineExceeded
from services.orchestrator.deadline import DEADLINE_MESSAGE, Deadline


async def test_the_deadline_stops_the_work_and_is_deadline_exceeded() -> None:
    deadline = Deadline.after(0.05)
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            stopped.set()

    with pytest.raises(DeadlineExceeded, match=DEADLINE_MESSAGE):
        async with deadline.enforce():
            await work()
    assert stopped.is_set()
    assert deadline.remaining() <= 0


async def test_a_passed_deadline_runs_nothing() -> None:
    ran = False
    with pytest.raises(DeadlineExceeded, match=DEADLINE_MESSAGE):
        async with Deadline.after(-1).enforce():
            ran = True
    assert not ran


async def test_another_timeout_passes_through_as_it_is() -> None:
    deadline = Deadline.after(10)
    with pytest.raises(TimeoutError):  # not DeadlineExceeded, which is no TimeoutError
        async with deadline.enforce():
            async with asyncio.timeout(0.01):  # a request's own timeout, not the deadline
                await asyncio.sleep(10)
    assert 9 < deadline.remaining() <= 10
