"""A least-recently-used cache of query embeddings.

Only queries are cached: the same question is asked again and again (by the agent's retries,
by several patients' briefings), while documents are embedded once at ingestion. Accessed from
the event loop only, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from opentelemetry import metrics

from services.embedder.backends.base import Embedded


class QueryCache:
    """Query text → embedding, at most ``capacity`` entries (0 disables the cache)."""

    def __init__(self, capacity: int, meter: metrics.Meter | None = None) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Embedded] = OrderedDict()
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
        return self.capacity > 0

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
        return found

    def put(self, text: str, embedded: Embedded) -> None:
        if not self.enabled:
            return
        self._entries[text] = embedded
        self._entries.move_to_end(text)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
