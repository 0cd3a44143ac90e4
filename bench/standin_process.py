"""The Messages API stand-in as a process of its own, as the real API is: ``python -m
bench.standin_process --latency-s 2``.

It prints one JSON line with its ``base_url`` once listening and, when stopped with SIGTERM, one
with the number of requests it served and when each arrived, with its turn. In its own process
its event loop is not shared with the benchmark's 500 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import time
from collections.abc import Awaitable

from bench.agent_script import respond
from tests.support.anthropic_standin import JSON, MessagesStandIn, Reply, turn_of


async def serve(api_key: str, latency_s: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    arrivals: list[tuple[float, int]] = []  # (wall-clock time, turn) of each request

    def timed_respond(body: JSON) -> Reply | Awaitable[Reply]:
        arrivals.append((time.time(), turn_of(body)))
        return respond(body)

    async with MessagesStandIn(
        timed_respond, api_key=api_key, turn_latency_s=latency_s, record=False
    ) as standin:
        gc.freeze()
        print(json.dumps({"base_url": standin.base_url}), flush=True)
        await stop.wait()
        print(json.dumps({"requests": standin.request_count, "arrivals": arrivals}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.standin_process")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--latency-s", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.api_key, args.latency_s))


if __name__ == "__main__":
    main()
