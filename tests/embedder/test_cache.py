"""The query cache on its own: least-recently-used eviction, counts, and switching it off."""

from __future__ import annotations

import numpy as np

from services.embedder.backends.base import Embedded
from services.embedder.cache import QueryCache


def _embedded(value: float) -> Embedded:
    return Embedded(values=np.full(3, value, dtype=np.float32), token_count=3, truncated=False)


def test_least_recently_used_entry_is_evicted() -> None:
    cache = QueryCache(capacity=2, max_bytes=1_000_000)
    cache.put("a", _embedded(1))
    cache.put("b", _embedded(2))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", _embedded(3))
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert (cache.hits, cache.misses, len(cache)) == (3, 1, 2)


def test_capacity_zero_disables_the_cache() -> None:
    cache = QueryCache(capacity=0, max_bytes=1_000_000)
    cache.put("a", _embedded(1))
    assert not cache.enabled
    assert len(cache) == 0
    assert cache.get("a") is None
