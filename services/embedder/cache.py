"""A least-recently-used cache of query embeddings, bounded in entries and in bytes.

Only queries are cached: the same question is asked again and again (by the agent's retries,
by several patients' briefings), while documents are embedded once at ingestion. A bound in
entries alone lets long texts that tokenise short grow the process for good (700 distinct 1 MB
queries once took 860 MB), so each entry is also counted in bytes: its text's UTF-8 bytes and
its vector's, plus a fixed allowance for the objects holding them. An entry bigger than the
whole byte budget is not kept. Accessed from the event loop only, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from opentelemetry import metrics

from services.embedder.backends.base import Embedded

#: Bytes counted per entry beyond its text and vector: the key string's and the array's
#: headers, the Embedded object and the dictionary's slot (about this much in CPython 3.11).
ENTRY_OVERHEAD_BYTES = 400


def entry_bytes(text: str, embedded: Embedded) -> int:
    """What one entry is counted for against the byte budget."""
    return (
        len(text.encode("utf-8", "surrogatepass")) + embedded.values.nbytes + ENTRY_OVERHEAD_BYTES
    )


class QueryCache:
    """Query text → embedding, at most ``capacity`` entries and ``max_bytes`` bytes (a bound
    of 0 disables the cache)."""

    def __init__(self, capacity: int, max_bytes: int, meter: metrics.Meter | None = None) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[Embedded, int]] = OrderedDict()
        # Read from the counters above when metrics are collected: nothing added per lookup.
        meter = meter or metrics.get_meter(__name__)
        meter.create_observable_counter(
            "embedder.cache.lookups",
            callbacks=[self._observe_lookups],
            unit="{lookup}",
            description="Query-embedding cache lookups since start, by result (hit or miss).",
        )
        meter.create_observable_gauge(
            "embedder.cache.hit_ratio",
            callbacks=[self._observe_hit_ratio],
            unit="1",
            description="Share of query-embedding cache lookups that hit, since start.",
        )

        meter.create_observable_gauge(
            "embedder.cache.size",
            callbacks=[self._observe_bytes],
            unit="By",
            description="Bytes the query-embedding cache's entries are counted for (texts and "
            "vectors), against EMBEDDER_CACHE_MAX_BYTES.",
        )

    def _observe_bytes(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(self.bytes)]

    def _observe_lookups(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [
            metrics.Observation(self.hits, {"embedder.cache.result": "hit"}),
            metrics.Observation(self.misses, {"embedder.cache.result": "miss"}),
        ]

    def _observe_hit_ratio(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        lookups = self.hits + self.misses
        return [metrics.Observation(self.hits / lookups if lookups else 0.0)]

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str) -> Embedded | None:
        """The cached embedding of ``text``, counted as a hit or a miss."""
        found = self._entries.get(text)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(text)
        return found[0]

    def put(self, text: str, embedded: Embedded) -> None:
        size = entry_bytes(text, embedded)
        if not self.enabled or size > self.max_bytes:
            return
        replaced = self._entries.pop(text, None)
        if replaced is not None:
            self.bytes -= replaced[1]
        self._entries[text] = (embedded, size)
        self.bytes += size
        while len(self._entries) > self.capacity or self.bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
