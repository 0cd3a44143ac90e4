"""A least-recently-used cache of query embeddings.

Only queries are cached: the same question is asked again and again (by the agent's retries,
by several patients' briefings), while documents are embedded once at ingestion. Accessed from
the event loop only, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict

from services.embedder.backends.base import Embedded


class QueryCache:
    """Query text → embedding, at most ``capacity`` entries (0 disables the cache)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Embedded] = OrderedDict()

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
