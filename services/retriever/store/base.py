"""The interface every vector-store engine implements, in the Retriever's own types.

The servicer and the ingestion code see only these: a :class:`StoredChunk` (text, source and the
version of its document), a :class:`ChunkRecord` (a chunk with its vector) to write, a
:class:`SearchQuery` with its :class:`SearchFilter` to search, a list of :class:`Hit` back, and
:class:`CollectionInfo`. An engine's own types (Qdrant's points, filters and scored points) stay
in its module, so a new engine slots in behind :class:`ChunkStore` without touching its callers.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

# Fixed namespace for chunk ids: the same document id and chunk index always give the same id,
# so re-ingesting a document overwrites its chunks in place.
CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:briefing:v1:retriever:chunk")


def chunk_id(document_id: str, chunk_index: int) -> str:
    """UUIDv5 of the document id and the chunk index."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}/{chunk_index}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredChunk:
    """One stored chunk: its text, where it comes from, and the version of its document."""

    document_id: str
    chunk_index: int
    title: str
    text: str
    #: Hash of the whole document; chunks carrying another hash are an older version.
    content_hash: str
    #: Chunks in the whole document.
    chunk_count: int
    section_path: tuple[str, ...] = ()
    issuer: str = ""
    year: int = 0
    url: str = ""
    topics: tuple[str, ...] = ()
    guideline: str = ""

    @property
    def id(self) -> str:
        """The chunk's id in the store (:func:`chunk_id`)."""
        return chunk_id(self.document_id, self.chunk_index)


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """What is written for one chunk: the chunk and its unit-length vector."""

    chunk: StoredChunk
    vector: Sequence[float]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Every non-empty field must match; within a field any value matches. Empty: no filter."""

    document_ids: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search: the query's text and vector, how many hits, and which chunks qualify.

    Dense engines use the vector; engines that also match words (BM25) use the text too.
    """

    text: str
    vector: Sequence[float]
    limit: int
    #: Hits scoring below it are left out; None keeps every hit.
    score_threshold: float | None = None
    where: SearchFilter = field(default_factory=SearchFilter)


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found by a search, with its id and score (higher is closer)."""

    chunk_id: str
    score: float
    chunk: StoredChunk


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """What GetCollectionInfo reports; dimension 0 while the collection does not exist."""

    points_count: int
    dimension: int
    distance: str
    documents_count: int


class ChunkStore(abc.ABC):
    """One collection of guideline chunks in one engine, owned by this process."""

    #: The collection's name, e.g. "clinical_guidelines".
    collection: str

    @abc.abstractmethod
    async def ensure_collection(self, dimension: int, model: str) -> None:
        """Creates the collection for ``dimension``-sized vectors, or checks the existing one.

        Raises FailedPrecondition, naming ``model``, when the existing one has another size.
        """

    @abc.abstractmethod
    async def upsert(self, records: Sequence[ChunkRecord]) -> None:
        """Writes chunks (overwriting those with the same ids) and waits until applied."""

    @abc.abstractmethod
    async def count(self, document_id: str, content_hash: str | None = None) -> int:
        """Chunks of one document (only those carrying ``content_hash`` when given)."""

    @abc.abstractmethod
    async def delete_stale(self, document_id: str, content_hash: str) -> int:
        """Removes the document's chunks carrying another hash than ``content_hash``; how many."""

    @abc.abstractmethod
    async def delete_document(self, document_id: str) -> int:
        """Removes every chunk of the document (none when there is no collection); how many."""

    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> list[Hit]:
        """The chunks nearest to the query that pass its filter and threshold, best first."""

    @abc.abstractmethod
    async def info(self) -> CollectionInfo:
        """Chunks, dimension, distance and distinct documents of the collection."""

    @abc.abstractmethod
    def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        """Every stored chunk with its vector, ``batch_size`` at a time (none without a
        collection); for copying a store into another engine."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases the engine (and the lock on its folder)."""
