from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Source(_message.Message):
    __slots__ = ("document_id", "title", "section_path", "issuer", "year", "url", "chunk_index", "topics", "guideline")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SECTION_PATH_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    title: str
    section_path: _containers.RepeatedScalarFieldContainer[str]
    issuer: str
    year: int
    url: str
    chunk_index: int
    topics: _containers.RepeatedScalarFieldContainer[str]
    guideline: str
    def __init__(self, document_id: _Optional[str] = ..., title: _Optional[str] = ..., section_path: _Optional[_Iterable[str]] = ..., issuer: _Optional[str] = ..., year: _Optional[int] = ..., url: _Optional[str] = ..., chunk_index: _Optional[int] = ..., topics: _Optional[_Iterable[str]] = ..., guideline: _Optional[str] = ...) -> None: ...
