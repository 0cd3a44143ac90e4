"""The one deadline of a briefing, from the servicer down to each Claude API request.

The servicer makes it from the caller's gRPC deadline (less a margin, so that the answer is
DEADLINE_EXCEEDED from here rather than a cancelled call), and runs the whole briefing inside
:meth:`Deadline.enforce`, the only timer: when it fires, whatever is waiting (the patient fetch,
a search, a Claude API request or the SDK's pause before a retry) is cancelled and the caller
gets DEADLINE_EXCEEDED. Nothing below sets a timer of its own; the Claude agent reads
:meth:`Deadline.remaining` to size each request's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.common.errors import DeadlineExceeded

DEADLINE_MESSAGE = "the briefing did not finish before the deadline"


@dataclass(frozen=True)
class Deadline:
    """A moment on the event loop's clock by which a briefing must be done."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(asyncio.get_running_loop().time() + seconds)

    def remaining(self) -> float:
        """Seconds left; zero or less once it has passed."""
        return self.at - asyncio.get_running_loop().time()

    @contextlib.asynccontextmanager
    async def enforce(self) -> AsyncIterator[None]:
        """Runs the block until the deadline, then raises DeadlineExceeded. A TimeoutError the
        block raises for another reason (a request timeout, say) passes through unchanged."""
        if self.remaining() <= 0:
            raise DeadlineExceeded(DEADLINE_MESSAGE)
        try:
            async with asyncio.timeout_at(self.at) as timer:
                yield
        except TimeoutError:
            if not timer.expired():
                raise
            raise DeadlineExceeded(DEADLINE_MESSAGE) from None
