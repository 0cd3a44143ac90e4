"""A BM25 baseline over the same chunks the engine holds, with ``bm25s`` (Lucene's BM25 scoring,
k1 1.5, b 0.75), English stop words and the Snowball English stemmer (PyStemmer).

It runs in the harness's own process, before the engine has a lexical side, so that dense and
lexical rankings (and their fusion) can be compared now; its latency is in-process, not a gRPC
round trip, and is reported apart from the engine's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import bm25s
import Stemmer

from eval.retrieval.chunks import Chunk, ChunkKey

LANGUAGE = "english"
STOPWORDS = "en"


class Bm25Baseline:
    """BM25 over chunk texts; search returns chunk keys, best first."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            raise ValueError("no chunks to index")
        self._keys = [chunk.key for chunk in chunks]
        self._stemmer = Stemmer.Stemmer(LANGUAGE)
        self._index = bm25s.BM25()
        self._index.index(self._tokens([chunk.text for chunk in chunks]), show_progress=False)

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        tokens: list[list[str]] = bm25s.tokenize(
            texts,
            stopwords=STOPWORDS,
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )
        return tokens

    def search(self, query: str, depth: int) -> tuple[tuple[ChunkKey, ...], float]:
        """The ``depth`` best chunks with a positive score, and the milliseconds it took."""
        started = time.perf_counter()
        tokens = self._tokens([query])
        found: tuple[ChunkKey, ...] = ()
        if tokens[0]:
            documents, scores = self._index.retrieve(
                tokens, k=min(depth, len(self._keys)), show_progress=False
            )
            found = tuple(
                self._keys[int(document)]
                for document, value in zip(documents[0], scores[0], strict=True)
                if value > 0
            )
        return found, (time.perf_counter() - started) * 1000.0
