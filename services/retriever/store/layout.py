"""What every Qdrant engine (local mode, server, edge) stores and searches the same way: a chunk as
a point's payload and back, the keyword-indexed keys, the lexical vector's name and the hybrid
fusion; so a store copied from one engine to another reads and ranks the same.

A document's new version is written *staged* (``ingest_state: "staged"`` in each point's payload)
and every search leaves staged points out; once the whole version is stored it is published (the
key removed) and the older version deleted (:meth:`.base.ChunkStore.commit`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.retriever.store.base import CHUNK_FIELDS, StoredChunk

# Payload keys with a keyword index; search filters and per-document look-ups use them.
DOCUMENT_ID = "document_id"
TOPICS = "topics"
ISSUER = "issuer"
CONTENT_HASH = "content_hash"
#: Present, as ``STAGED``, on the points of a version still being written; absent once published.
STATE = "ingest_state"
STAGED = "staged"
INDEXED_KEYWORDS = (DOCUMENT_ID, TOPICS, ISSUER, CONTENT_HASH, STATE)
# The sparse vector's name.
LEXICAL = "lexical"
# Candidates each side of a hybrid search brings to the fusion (more when the limit is higher).
HYBRID_CANDIDATES = 50
# The k of reciprocal-rank fusion (Fusion.RRF): a hit ranked r on a side scores 1 / (k + r).
RRF_K = 60


def chunk_payload(chunk: StoredChunk, staged: bool = False) -> dict[str, Any]:
    """The point's payload: every field of the chunk (lists as JSON arrays), and the staged mark
    when ``staged``."""
    payload = {
        **asdict(chunk),
        "section_path": list(chunk.section_path),
        TOPICS: list(chunk.topics),
    }
    if staged:
        payload[STATE] = STAGED
    return payload


def payload_chunk(payload: dict[str, Any]) -> StoredChunk:
    """The chunk a payload holds (keys the chunk does not have are ignored)."""
    values = {name: payload[name] for name in CHUNK_FIELDS if name in payload}
    values["section_path"] = tuple(values.get("section_path", ()))
    values[TOPICS] = tuple(values.get(TOPICS, ()))
    return StoredChunk(**values)
