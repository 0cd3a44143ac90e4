from briefing.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_DENSE: _ClassVar[SearchMode]
    SEARCH_MODE_SPARSE: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_DENSE: SearchMode
SEARCH_MODE_SPARSE: SearchMode
SEARCH_MODE_HYBRID: SearchMode

class SearchFilter(_message.Message):
    __slots__ = ("document_ids", "topics", "issuers")
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    ISSUERS_FIELD_NUMBER: _ClassVar[int]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    topics: _containers.RepeatedScalarFieldContainer[str]
    issuers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, document_ids: _Optional[_Iterable[str]] = ..., topics: _Optional[_Iterable[str]] = ..., issuers: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "limit", "score_threshold", "filter", "mode")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    query: str
    limit: int
    score_threshold: float
    filter: SearchFilter
    mode: SearchMode
    def __init__(self, query: _Optional[str] = ..., limit: _Optional[int] = ..., score_threshold: _Optional[float] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., mode: _Optional[_Union[SearchMode, str]] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("chunk_id", "score", "text", "source")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    score: float
    text: str
    source: _common_pb2.Source
    def __init__(self, chunk_id: _Optional[str] = ..., score: _Optional[float] = ..., text: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "embed_ms", "search_ms", "mode", "expansions")
    HITS_FIELD_NUMBER: _ClassVar[int]
    EMBED_MS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_MS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    EXPANSIONS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    embed_ms: float
    search_ms: float
    mode: SearchMode
    expansions: _containers.RepeatedCompositeFieldContainer[SynonymExpansion]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., embed_ms: _Optional[float] = ..., search_ms: _Optional[float] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., expansions: _Optional[_Iterable[_Union[SynonymExpansion, _Mapping]]] = ...) -> None: ...

class SynonymExpansion(_message.Message):
    __slots__ = ("matched", "added")
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    matched: str
    added: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, matched: _Optional[str] = ..., added: _Optional[_Iterable[str]] = ...) -> None: ...

class IngestChunk(_message.Message):
    __slots__ = ("source", "text", "content_hash", "chunk_count", "context")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    source: _common_pb2.Source
    text: str
    content_hash: str
    chunk_count: int
    context: str
    def __init__(self, source: _Optional[_Union[_common_pb2.Source, _Mapping]] = ..., text: _Optional[str] = ..., content_hash: _Optional[str] = ..., chunk_count: _Optional[int] = ..., context: _Optional[str] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: IngestChunk
    def __init__(self, chunk: _Optional[_Union[IngestChunk, _Mapping]] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("documents_received", "documents_unchanged", "documents_written", "chunks_received", "chunks_upserted", "chunks_deleted", "embed_ms", "upsert_ms")
    DOCUMENTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_UPSERTED_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    EMBED_MS_FIELD_NUMBER: _ClassVar[int]
    UPSERT_MS_FIELD_NUMBER: _ClassVar[int]
    documents_received: int
    documents_unchanged: int
    documents_written: int
    chunks_received: int
    chunks_upserted: int
    chunks_deleted: int
    embed_ms: float
    upsert_ms: float
    def __init__(self, documents_received: _Optional[int] = ..., documents_unchanged: _Optional[int] = ..., documents_written: _Optional[int] = ..., chunks_received: _Optional[int] = ..., chunks_upserted: _Optional[int] = ..., chunks_deleted: _Optional[int] = ..., embed_ms: _Optional[float] = ..., upsert_ms: _Optional[float] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("document_id",)
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    def __init__(self, document_id: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("chunks_deleted",)
    CHUNKS_DELETED_FIELD_NUMBER: _ClassVar[int]
    chunks_deleted: int
    def __init__(self, chunks_deleted: _Optional[int] = ...) -> None: ...

class GetCollectionInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCollectionInfoResponse(_message.Message):
    __slots__ = ("collection", "points_count", "dimension", "distance", "store", "documents_count", "search_modes", "lexical_analyzer")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    POINTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEARCH_MODES_FIELD_NUMBER: _ClassVar[int]
    LEXICAL_ANALYZER_FIELD_NUMBER: _ClassVar[int]
    collection: str
    points_count: int
    dimension: int
    distance: str
    store: str
    documents_count: int
    search_modes: _containers.RepeatedScalarFieldContainer[SearchMode]
    lexical_analyzer: str
    def __init__(self, collection: _Optional[str] = ..., points_count: _Optional[int] = ..., dimension: _Optional[int] = ..., distance: _Optional[str] = ..., store: _Optional[str] = ..., documents_count: _Optional[int] = ..., search_modes: _Optional[_Iterable[_Union[SearchMode, str]]] = ..., lexical_analyzer: _Optional[str] = ...) -> None: ...
