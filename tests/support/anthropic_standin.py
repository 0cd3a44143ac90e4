"""A stand-in for the Anthropic Messages API on a loopback port, for tests and the benchmark.

It speaks the wire format the real SDK expects (``POST /v1/messages``, JSON message bodies,
``{"type": "error", ...}`` error bodies, ``retry-after-ms``), checks the ``Authorization:
Bearer`` header the SDK sends, records every request, and answers from a script:

- a queue of :class:`Reply` objects (``standin.script(...)``), for one conversation per test;
- or a *responder*, a function of the request body, for many conversations at once (the
  benchmark's :func:`searching_conversation`).

Usage numbers imitate prompt caching: a request's blocks (tools, system, messages) up to a
``cache_control`` breakpoint are written to a cache keyed by their content, and a later request
sharing a cached prefix reads it; tokens are counted as characters / 4.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

JSON = dict[str, Any]
MODEL = "claude-sonnet-5-5"
LOOKBACK_BLOCKS = 20  # the API looks for cache hits this many blocks before a breakpoint
SOURCE_ID = re.compile(r'<source id="(S\d+)"')


@dataclass
class Reply:
    """One HTTP answer: a message (status 200) or an error."""

    body: JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    body: JSON
    headers: Mapping[str, str]


Responder = Callable[[JSON], Reply | Awaitable[Reply]]


def tool_use(name: str, tool_input: JSON, tool_use_id: str | None = None) -> JSON:
    return {
        "type": "tool_use",
        "id": tool_use_id or f"toolu_{uuid.uuid4().hex[:20]}",
        "name": name,
        "input": tool_input,
    }


def search(query: str, max_results: int = 3, tool_use_id: str | None = None) -> JSON:
    return tool_use(
        "search_clinical_guidelines", {"query": query, "max_results": max_results}, tool_use_id
    )


def submit(
    summary: str = "Summary.",
    alerts: Sequence[JSON] = (),
    recommendations: Sequence[JSON] = (),
) -> JSON:
    return tool_use(
        "submit_briefing",
        {"summary": summary, "alerts": list(alerts), "recommendations": list(recommendations)},
    )


def text(value: str) -> JSON:
    return {"type": "text", "text": value}


def message(
    *content: JSON,
    stop_reason: str | None = None,
    usage: JSON | None = None,
    model: str = MODEL,
) -> Reply:
    """A Messages API response; ``stop_reason`` defaults to tool_use when a tool is called."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
    body: JSON = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage
    return Reply(body)


def error(status: int, error_type: str, text_: str, retry_after_ms: int | None = 1) -> Reply:
    """An API error; ``retry-after-ms`` keeps the SDK's retry waits short."""
    headers = {"request-id": f"req_{uuid.uuid4().hex[:16]}"}
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    body = {"type": "error", "error": {"type": error_type, "message": text_}}
    return Reply(body, status=status, headers=headers)


def _tokens(chars: int) -> int:
    return max(1, chars // 4)


class _PromptCache:
    """Imitates the API's prompt cache well enough to give plausible usage numbers."""

    def __init__(self) -> None:
        self._prefixes: set[str] = set()

    @staticmethod
    def _blocks(body: JSON) -> tuple[list[str], list[int]]:
        """Each cacheable block serialised without its marker, and the breakpoint indexes."""
        blocks: list[JSON] = [*body.get("tools", [])]
        system = body.get("system", [])
        blocks += [text(system)] if isinstance(system, str) else system
        # tool_choice sits between the system prompt and the messages in the cache's prefix: a
        # change of it invalidates the message cache only.
        blocks.append({"tool_choice": body.get("tool_choice", {"type": "auto"})})
        for msg in body.get("messages", []):
            content = msg["content"]
            blocks += [text(content)] if isinstance(content, str) else content
        serialised, breakpoints = [], []
        for index, block in enumerate(blocks):
            if "cache_control" in block:
                breakpoints.append(index + 1)
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            serialised.append(orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode())
        return serialised, breakpoints

    def usage(self, body: JSON) -> tuple[int, int, int]:
        """(uncached input, cache write, cache read) tokens of one request."""
        blocks, breakpoints = self._blocks(body)
        digest = hashlib.sha256()
        hashes = [digest.hexdigest()]  # hashes[k]: the prefix of k blocks
        for block in blocks:
            digest.update(block.encode() + b"\x00")
            hashes.append(digest.hexdigest())
        sizes = [0]
        for block in blocks:
            sizes.append(sizes[-1] + len(block))
        read_upto = 0
        for point in breakpoints:
            for k in range(point, max(0, point - LOOKBACK_BLOCKS) - 1, -1):
                if k > read_upto and hashes[k] in self._prefixes:
                    read_upto = k
                    break
        write_upto = max([read_upto, *breakpoints])
        for point in breakpoints:
            self._prefixes.add(hashes[point])
        read = _tokens(sizes[read_upto]) if read_upto else 0
        write = _tokens(sizes[write_upto] - sizes[read_upto]) if write_upto > read_upto else 0
        uncached = _tokens(sizes[-1] - sizes[write_upto])
        return uncached, write, read


class MessagesStandIn:
    """The stand-in server; ``async with MessagesStandIn() as standin: standin.base_url``."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        api_key: str = "test-key",
        turn_latency_s: float = 0.0,
        record: bool = True,
    ) -> None:
        self.api_key = api_key
        self.turn_latency_s = turn_latency_s
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self._record = record
        self._responder = responder
        self._queue: deque[Reply] = deque()
        self._cache = _PromptCache()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, *replies: Reply) -> None:
        """Queues replies, answered in order (when no responder is set)."""
        self._queue.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MessagesStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _messages(self, request: web.Request) -> web.Response:
        # Like a model, the answer comes turn_latency_s after the request arrived, however long
        # this server took to read the request and write the answer.
        answer_at = asyncio.get_running_loop().time() + self.turn_latency_s
        self.request_count += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            reply = error(401, "authentication_error", "invalid x-api-key", retry_after_ms=None)
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        # orjson: in the benchmark this server shares two cores with the stack it drives.
        body = await request.json(loads=orjson.loads)
        if self._record:
            self.requests.append(RecordedRequest(body, dict(request.headers)))
        reply = await self._next(body)
        uncached, write, read = self._cache.usage(body)  # the cache fills even when scripted
        if reply.status == 200 and "usage" not in reply.body:
            output = _tokens(len(orjson.dumps(reply.body["content"])))
            reply.body["usage"] = {
                "input_tokens": uncached,
                "output_tokens": output,
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
            }
        encoded = orjson.dumps(reply.body)
        await asyncio.sleep(answer_at - asyncio.get_running_loop().time())
        return web.Response(
            body=encoded,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json",
        )

    async def _next(self, body: JSON) -> Reply:
        if self._responder is not None:
            answer = self._responder(body)
            return await answer if inspect.isawaitable(answer) else answer
        if not self._queue:
            return error(500, "api_error", "stand-in: no scripted reply left", retry_after_ms=None)
        reply = self._queue.popleft()
        return Reply(dict(reply.body), reply.status, dict(reply.headers))


def turn_of(body: JSON) -> int:
    """Which turn of its conversation a request is: one more than the replies it carries."""
    return 1 + sum(1 for m in body["messages"] if m["role"] == "assistant")


def cited_ids(body: JSON) -> list[str]:
    """Every source id the tool results of a request handed out, in order."""
    ids: list[str] = []
    for msg in body.get("messages", []):
        content = msg["content"]
        if msg["role"] != "user" or isinstance(content, str):
            continue
        for block in content:
            if block.get("type") == "tool_result" and isinstance(block.get("content"), str):
                ids += SOURCE_ID.findall(block["content"])
    return list(dict.fromkeys(ids))


def searching_conversation(
    plan: Callable[[JSON], Sequence[Sequence[str]]], max_results: int = 3
) -> Responder:
    """A responder for any number of conversations: ``plan(request body)`` gives each turn's
    queries; turn k asks the k-th list concurrently, then (or when submit_briefing is forced)
    the briefing cites the source ids its searches returned."""

    def respond(body: JSON) -> Reply:
        turn = turn_of(body)
        forced = body.get("tool_choice", {}).get("type") == "tool"
        queries_per_turn = plan(body)
        if forced or turn > len(queries_per_turn):
            ids = cited_ids(body)
            return message(
                submit(
                    summary="Scripted briefing.",
                    alerts=[{"severity": "warning", "message": "Check.", "source_ids": ids[:1]}],
                    recommendations=[
                        {
                            "text": "Follow the guideline.",
                            "rationale": "Fits.",
                            "source_ids": ids[:4],
                        }
                    ],
                )
            )
        return message(*(search(q, max_results) for q in queries_per_turn[turn - 1]))

    return respond
