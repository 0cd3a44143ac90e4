"""The interface every vector-store engine implements, in the Retriever's own types.

The servicer and the ingestion code see only these: a :class:`StoredChunk` (text, source and the
version of its document), a :class:`ChunkRecord` (a chunk with its dense and lexical vectors) to
write, a :class:`SearchQuery` in a :class:`SearchMode` with its :class:`SearchFilter` to search, a
list of :class:`Hit` back, and :class:`CollectionInfo`. Both kinds of vector are computed by the
Retriever (the Embedder's, and :mod:`services.retriever.lexical`'s), so every engine stores and
searches the same ones. An engine's own types (Qdrant's points, filters and scored points) stay
in its module, so a new engine slots in behind :class:`ChunkStore` without touching its callers.

Ingestion writes a document's new version *staged*: searches, counts and listings leave staged
chunks out. :meth:`ChunkStore.commit` publishes the version once all of it is stored and
deletes the older one; a version that never gets there (a failed or cancelled stream, a killed
process) stays invisible and is removed by the next ingest of that document or by
:meth:`ChunkStore.recover_staged` when the store is first used. The commit point:

- for this process's searches (every engine), the moment ``commit`` records the document as
  committing: from then on its searches see exactly the new version, whatever the engine has
  applied so far, until the publish and the deletion are both done;
- on disk, the first staged chunk published: :meth:`ChunkStore.recover_staged` completes a
  version some of whose chunks are already published (roll forward) and removes one none of
  whose chunks are (roll back). The publish runs only once every chunk is stored.

Other processes reading the same Qdrant server (more than one Retriever) see the publish and
the deletion as two filter-wide updates, each applied segment by segment: for the milliseconds
between them a search there can see both versions. The embedded engines lock their folder to
one process, so there the swap is atomic for every reader.
"""

from __future__ import annotations

import abc
import enum
import operator
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

# Fixed namespace for chunk ids: the same document version and chunk index always give the same
# id, so writing a version again overwrites its chunks in place, while a new version is written
# beside the old one (staged) and never over it.
CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:briefing:v1:retriever:chunk")


def chunk_id(document_id: str, chunk_index: int, content_hash: str) -> str:
    """UUIDv5 of the document id, the chunk index and the document version's hash."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}/{chunk_index}/{content_hash}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredChunk:
    """One stored chunk: its text, where it comes from, and the version of its document."""

    document_id: str
    chunk_index: int
    title: str
    #: The passage, as shown to readers and cited.
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
    #: The heading line (title and section path) embedded and matched in front of the passage;
    #: empty for chunks stored before it was kept apart, whose text starts with it.
    context: str = ""

    @property
    def id(self) -> str:
        """The chunk's id in the store (:func:`chunk_id`)."""
        return chunk_id(self.document_id, self.chunk_index, self.content_hash)

    @property
    def indexed_text(self) -> str:
        """What the chunk's dense vector is made of: the heading line, then the passage."""
        return f"{self.context}\n{self.text}" if self.context else self.text

    def __reduce__(self) -> tuple[Callable[..., StoredChunk], tuple[Any, ...]]:
        """Pickled as its field values. A search's hits are pickled on their way back from the
        edge engine's process, and the frozen dataclass's own state sets each field in turn:
        ten hits took 280 µs to pickle and unpickle that way, 155 µs this way (with
        :meth:`Hit.__reduce__`)."""
        return _stored_chunk, _chunk_values(self)


def _stored_chunk(*values: Any) -> StoredChunk:
    return StoredChunk(**dict(zip(CHUNK_FIELDS, values, strict=True)))


#: The names of a chunk's fields, in order.
CHUNK_FIELDS = tuple(chunk_field.name for chunk_field in fields(StoredChunk))
_chunk_values = operator.attrgetter(*CHUNK_FIELDS)


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term weights by term index, indices ascending and distinct."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


class SearchMode(enum.StrEnum):
    """How a search matches: by meaning (dense), by words (sparse), or both fused (hybrid)."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


class Fusion(enum.StrEnum):
    """How a hybrid search fuses its dense and lexical candidates, in the engine's Query API."""

    #: Distribution-based score fusion: each side's scores scaled by their mean and three
    #: standard deviations to about 0..1, then added; how far a hit leads its side counts.
    DBSF = "dbsf"
    #: Reciprocal-rank fusion (k = 60): only each hit's rank on each side counts.
    RRF = "rrf"


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """What is written for one chunk: the chunk, its unit-length vector and its lexical vector.

    Engines store the lexical vector only in a collection that has lexical vectors.
    """

    chunk: StoredChunk
    vector: Sequence[float]
    lexical: SparseVector


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Every non-empty field must match; within a field any value matches. Empty: no filter."""

    document_ids: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search: its mode and the vectors that mode needs, how many hits, which chunks qualify.

    Dense search uses ``vector``, sparse search ``lexical``, hybrid both.
    """

    mode: SearchMode
    limit: int
    vector: Sequence[float] | None = None
    lexical: SparseVector | None = None
    #: Dense search only: hits below this cosine similarity are left out; None keeps every hit.
    score_threshold: float | None = None
    where: SearchFilter = field(default_factory=SearchFilter)
    #: Hybrid search only: how the two sides' candidates are fused.
    fusion: Fusion = Fusion.DBSF

    def __post_init__(self) -> None:
        if self.mode != SearchMode.SPARSE and self.vector is None:
            raise ValueError(f"a {self.mode} search needs the query's vector")
        if self.mode != SearchMode.DENSE and self.lexical is None:
            raise ValueError(f"a {self.mode} search needs the query's lexical vector")
        if self.mode != SearchMode.DENSE and self.score_threshold is not None:
            raise ValueError("a score threshold applies to dense search only")


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found by a search, with its id and score (higher is closer)."""

    chunk_id: str
    score: float
    chunk: StoredChunk

    def __reduce__(self) -> tuple[type[Hit], tuple[str, float, StoredChunk]]:
        """Pickled as its fields (see :meth:`StoredChunk.__reduce__`)."""
        return Hit, (self.chunk_id, self.score, self.chunk)


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """What GetCollectionInfo reports; dimension 0 while the collection does not exist."""

    points_count: int
    dimension: int
    distance: str
    documents_count: int
    #: The analyzer recorded as having made a lexical vector for every chunk; "" when none did
    #: (a collection made before lexical vectors, or a re-index that has not finished).
    lexical_analyzer: str = ""


@dataclass(frozen=True, slots=True)
class Recovered:
    """What :meth:`ChunkStore.recover_staged` did: versions published, staged chunks removed."""

    published: int = 0
    discarded: int = 0


class ChunkStore(abc.ABC):
    """One collection of guideline chunks in one engine, owned by this process."""

    #: The collection's name, e.g. "clinical_guidelines".
    collection: str

    def __init__(self) -> None:
        self._committing: dict[str, str] = {}

    @property
    def committing(self) -> Mapping[str, str]:
        """The documents being committed now, each with the hash of its new version: searches
        show that version and hide every other one of the document."""
        return self._committing

    async def commit(self, document_id: str, content_hash: str) -> int:
        """Makes the staged version ``content_hash`` of a document the one searches see, and
        removes every other version of it; returns how many chunks of older versions went.

        Call it once every chunk of the version is stored (staged).
        """
        self._committing[document_id] = content_hash
        try:
            await self._publish(document_id, content_hash)
            return await self._delete_other_versions(document_id, content_hash)
        finally:
            del self._committing[document_id]

    async def recover_staged(self) -> Recovered:
        """Finishes or undoes the commits a stopped process left: a staged version with chunks
        already published is published whole (its older version removed); any other staged
        chunk is removed."""
        published = discarded = 0
        for document_id, content_hash in await self._staged_versions():
            if await self.count(document_id, content_hash):
                await self.commit(document_id, content_hash)
                published += 1
            else:
                discarded += await self.discard_staged(document_id, content_hash=content_hash)
        return Recovered(published, discarded)

    @abc.abstractmethod
    async def ensure_collection(self, dimension: int, model: str, lexical_analyzer: str) -> None:
        """Creates the collection for ``dimension``-sized vectors and lexical vectors (recorded as
        made by ``lexical_analyzer``), or checks the existing one, which it leaves as it is but
        for the staged chunks a stopped process left (:meth:`recover_staged`).

        Raises FailedPrecondition, naming ``model``, when the existing one has another size.
        """

    @abc.abstractmethod
    async def upsert(self, records: Sequence[ChunkRecord], *, staged: bool = False) -> None:
        """Writes chunks (overwriting those with the same ids) and waits until applied; staged
        chunks stay hidden from searches until their version is committed."""

    @abc.abstractmethod
    async def count(
        self, document_id: str, content_hash: str | None = None, *, staged: bool = False
    ) -> int:
        """Published chunks of one document (only those carrying ``content_hash`` when given);
        with ``staged``, its staged chunks instead."""

    @abc.abstractmethod
    async def discard_staged(self, document_id: str, *, content_hash: str | None = None) -> int:
        """Removes the document's staged chunks (only those of version ``content_hash`` when
        given); how many."""

    @abc.abstractmethod
    async def _publish(self, document_id: str, content_hash: str) -> None:
        """Clears the staged mark of the document's chunks of version ``content_hash``."""

    @abc.abstractmethod
    async def _delete_other_versions(self, document_id: str, content_hash: str) -> int:
        """Removes the document's chunks carrying another hash than ``content_hash``; how many."""

    @abc.abstractmethod
    async def _staged_versions(self) -> list[tuple[str, str]]:
        """Every (document id, content hash) that has staged chunks."""

    @abc.abstractmethod
    async def delete_document(self, document_id: str) -> int:
        """Removes every chunk of the document, staged ones too (none when there is no
        collection); how many."""

    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> list[Hit]:
        """The published chunks that best match the query in its mode and pass its filter and
        threshold, best first. Sparse and hybrid need a collection with lexical vectors."""

    @abc.abstractmethod
    async def lexical_analyzer(self) -> str:
        """The analyzer recorded for the collection's lexical vectors ("" when there are none
        for every chunk, or no collection)."""

    @abc.abstractmethod
    async def add_lexical(
        self,
        vectorize: Callable[[StoredChunk], SparseVector],
        lexical_analyzer: str,
        batch_size: int,
        progress: Callable[[int], None] = lambda done: None,
    ) -> int:
        """Gives every stored chunk the lexical vector ``vectorize`` makes of it, in place (dense
        vectors and payloads untouched), then records ``lexical_analyzer``; returns how many.

        Until it finishes the collection records no analyzer, so an interrupted run leaves it
        serving dense search, and running it again completes it. ``progress`` gets the number
        of chunks done after each batch.
        """

    @abc.abstractmethod
    async def info(self) -> CollectionInfo:
        """Published chunks, dimension, distance and distinct documents of the collection."""

    @abc.abstractmethod
    async def is_healthy(self) -> bool:
        """Whether the engine answers now (the retriever's health check; bounded by the
        caller)."""

    @abc.abstractmethod
    def records(self, batch_size: int) -> AsyncIterator[list[ChunkRecord]]:
        """Every published chunk with its vectors, ``batch_size`` at a time (none without a
        collection); for copying a store into another engine. A chunk without a lexical vector
        comes with an empty one."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases the engine (and the lock on its folder)."""
