import datetime

from briefing.v1 import common_pb2 as _common_pb2
from briefing.v1 import retriever_pb2 as _retriever_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_MODE_UNSPECIFIED: _ClassVar[AgentMode]
    AGENT_MODE_OFFLINE: _ClassVar[AgentMode]
    AGENT_MODE_CLAUDE: _ClassVar[AgentMode]

class AlertSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_SEVERITY_UNSPECIFIED: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_INFO: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_WARNING: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_CRITICAL: _ClassVar[AlertSeverity]

class ProgressEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRESS_EVENT_TYPE_UNSPECIFIED: _ClassVar[ProgressEventType]
    PROGRESS_EVENT_TYPE_PATIENT_LOADED: _ClassVar[ProgressEventType]
    PROGRESS_EVENT_TYPE_TURN_STARTED: _ClassVar[ProgressEventType]
    PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED: _ClassVar[ProgressEventType]
    PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED: _ClassVar[ProgressEventType]
    PROGRESS_EVENT_TYPE_BRIEFING_READY: _ClassVar[ProgressEventType]

class GroundingFlagKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUNDING_FLAG_KIND_UNSPECIFIED: _ClassVar[GroundingFlagKind]
    GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER: _ClassVar[GroundingFlagKind]
    GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG: _ClassVar[GroundingFlagKind]
    GROUNDING_FLAG_KIND_WEAK_SUPPORT: _ClassVar[GroundingFlagKind]
AGENT_MODE_UNSPECIFIED: AgentMode
AGENT_MODE_OFFLINE: AgentMode
AGENT_MODE_CLAUDE: AgentMode
ALERT_SEVERITY_UNSPECIFIED: AlertSeverity
ALERT_SEVERITY_INFO: AlertSeverity
ALERT_SEVERITY_WARNING: AlertSeverity
ALERT_SEVERITY_CRITICAL: AlertSeverity
PROGRESS_EVENT_TYPE_UNSPECIFIED: ProgressEventType
PROGRESS_EVENT_TYPE_PATIENT_LOADED: ProgressEventType
PROGRESS_EVENT_TYPE_TURN_STARTED: ProgressEventType
PROGRESS_EVENT_TYPE_TOOL_CALL_STARTED: ProgressEventType
PROGRESS_EVENT_TYPE_TOOL_CALL_FINISHED: ProgressEventType
PROGRESS_EVENT_TYPE_BRIEFING_READY: ProgressEventType
GROUNDING_FLAG_KIND_UNSPECIFIED: GroundingFlagKind
GROUNDING_FLAG_KIND_UNSUPPORTED_NUMBER: GroundingFlagKind
GROUNDING_FLAG_KIND_UNSUPPORTED_DRUG: GroundingFlagKind
GROUNDING_FLAG_KIND_WEAK_SUPPORT: GroundingFlagKind

class BriefOptions(_message.Message):
    __slots__ = ("mode", "max_turns", "max_results_per_search")
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_TURNS_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_PER_SEARCH_FIELD_NUMBER: _ClassVar[int]
    mode: AgentMode
    max_turns: int
    max_results_per_search: int
    def __init__(self, mode: _Optional[_Union[AgentMode, str]] = ..., max_turns: _Optional[int] = ..., max_results_per_search: _Optional[int] = ...) -> None: ...

class BriefRequest(_message.Message):
    __slots__ = ("patient_id", "options")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    options: BriefOptions
    def __init__(self, patient_id: _Optional[str] = ..., options: _Optional[_Union[BriefOptions, _Mapping]] = ...) -> None: ...

class BriefResponse(_message.Message):
    __slots__ = ("briefing",)
    BRIEFING_FIELD_NUMBER: _ClassVar[int]
    briefing: PatientBriefing
    def __init__(self, briefing: _Optional[_Union[PatientBriefing, _Mapping]] = ...) -> None: ...

class BriefStreamRequest(_message.Message):
    __slots__ = ("patient_id", "options")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    options: BriefOptions
    def __init__(self, patient_id: _Optional[str] = ..., options: _Optional[_Union[BriefOptions, _Mapping]] = ...) -> None: ...

class BriefStreamResponse(_message.Message):
    __slots__ = ("progress", "briefing")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BRIEFING_FIELD_NUMBER: _ClassVar[int]
    progress: ProgressEvent
    briefing: PatientBriefing
    def __init__(self, progress: _Optional[_Union[ProgressEvent, _Mapping]] = ..., briefing: _Optional[_Union[PatientBriefing, _Mapping]] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("type", "turn", "tool_call_id", "elapsed_ms", "ok", "hit_count", "query", "search_mode")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SEARCH_MODE_FIELD_NUMBER: _ClassVar[int]
    type: ProgressEventType
    turn: int
    tool_call_id: str
    elapsed_ms: float
    ok: bool
    hit_count: int
    query: str
    search_mode: _retriever_pb2.SearchMode
    def __init__(self, type: _Optional[_Union[ProgressEventType, str]] = ..., turn: _Optional[int] = ..., tool_call_id: _Optional[str] = ..., elapsed_ms: _Optional[float] = ..., ok: _Optional[bool] = ..., hit_count: _Optional[int] = ..., query: _Optional[str] = ..., search_mode: _Optional[_Union[_retriever_pb2.SearchMode, str]] = ...) -> None: ...

class GuidelineSearch(_message.Message):
    __slots__ = ("turn", "tool_call_id", "query", "mode", "hit_count", "ok")
    TURN_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    turn: int
    tool_call_id: str
    query: str
    mode: _retriever_pb2.SearchMode
    hit_count: int
    ok: bool
    def __init__(self, turn: _Optional[int] = ..., tool_call_id: _Optional[str] = ..., query: _Optional[str] = ..., mode: _Optional[_Union[_retriever_pb2.SearchMode, str]] = ..., hit_count: _Optional[int] = ..., ok: _Optional[bool] = ...) -> None: ...

class Problem(_message.Message):
    __slots__ = ("display", "code", "code_system", "onset_date")
    DISPLAY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    CODE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    ONSET_DATE_FIELD_NUMBER: _ClassVar[int]
    display: str
    code: str
    code_system: str
    onset_date: str
    def __init__(self, display: _Optional[str] = ..., code: _Optional[str] = ..., code_system: _Optional[str] = ..., onset_date: _Optional[str] = ...) -> None: ...

class Medication(_message.Message):
    __slots__ = ("display", "code", "dosage", "status")
    DISPLAY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DOSAGE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    display: str
    code: str
    dosage: str
    status: str
    def __init__(self, display: _Optional[str] = ..., code: _Optional[str] = ..., dosage: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("severity", "message", "source_ids")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    severity: AlertSeverity
    message: str
    source_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, severity: _Optional[_Union[AlertSeverity, str]] = ..., message: _Optional[str] = ..., source_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("text", "source_ids", "invalid_source_ids", "rationale", "grounding_flags", "support_similarity")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    INVALID_SOURCE_IDS_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    GROUNDING_FLAGS_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    text: str
    source_ids: _containers.RepeatedScalarFieldContainer[str]
    invalid_source_ids: _containers.RepeatedScalarFieldContainer[str]
    rationale: str
    grounding_flags: _containers.RepeatedCompositeFieldContainer[GroundingFlag]
    support_similarity: float
    def __init__(self, text: _Optional[str] = ..., source_ids: _Optional[_Iterable[str]] = ..., invalid_source_ids: _Optional[_Iterable[str]] = ..., rationale: _Optional[str] = ..., grounding_flags: _Optional[_Iterable[_Union[GroundingFlag, _Mapping]]] = ..., support_similarity: _Optional[float] = ...) -> None: ...

class GroundingFlag(_message.Message):
    __slots__ = ("kind", "unmatched", "similarity")
    KIND_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    kind: GroundingFlagKind
    unmatched: _containers.RepeatedScalarFieldContainer[str]
    similarity: float
    def __init__(self, kind: _Optional[_Union[GroundingFlagKind, str]] = ..., unmatched: _Optional[_Iterable[str]] = ..., similarity: _Optional[float] = ...) -> None: ...

class CitedSource(_message.Message):
    __slots__ = ("source_id", "chunk_id", "source", "excerpt", "score")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    chunk_id: str
    source: _common_pb2.Source
    excerpt: str
    score: float
    def __init__(self, source_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, _Mapping]] = ..., excerpt: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "turn", "tool_call_id", "start_ms", "duration_ms")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    turn: int
    tool_call_id: str
    start_ms: float
    duration_ms: float
    def __init__(self, stage: _Optional[str] = ..., turn: _Optional[int] = ..., tool_call_id: _Optional[str] = ..., start_ms: _Optional[float] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_creation_input_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ...) -> None: ...

class TurnUsage(_message.Message):
    __slots__ = ("turn", "usage", "stop_reason")
    TURN_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    turn: int
    usage: TokenUsage
    stop_reason: str
    def __init__(self, turn: _Optional[int] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., stop_reason: _Optional[str] = ...) -> None: ...

class PatientBriefing(_message.Message):
    __slots__ = ("patient_id", "summary", "active_problems", "medications", "alerts", "recommendations", "sources", "timings", "mode", "turns_used", "usage", "turn_usage", "guidelines_available", "warnings", "model", "generated_at", "searches")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    MEDICATIONS_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TURNS_USED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TURN_USAGE_FIELD_NUMBER: _ClassVar[int]
    GUIDELINES_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    SEARCHES_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    summary: str
    active_problems: _containers.RepeatedCompositeFieldContainer[Problem]
    medications: _containers.RepeatedCompositeFieldContainer[Medication]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    sources: _containers.RepeatedCompositeFieldContainer[CitedSource]
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    mode: AgentMode
    turns_used: int
    usage: TokenUsage
    turn_usage: _containers.RepeatedCompositeFieldContainer[TurnUsage]
    guidelines_available: bool
    warnings: _containers.RepeatedScalarFieldContainer[str]
    model: str
    generated_at: _timestamp_pb2.Timestamp
    searches: _containers.RepeatedCompositeFieldContainer[GuidelineSearch]
    def __init__(self, patient_id: _Optional[str] = ..., summary: _Optional[str] = ..., active_problems: _Optional[_Iterable[_Union[Problem, _Mapping]]] = ..., medications: _Optional[_Iterable[_Union[Medication, _Mapping]]] = ..., alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[CitedSource, _Mapping]]] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., mode: _Optional[_Union[AgentMode, str]] = ..., turns_used: _Optional[int] = ..., usage: _Optional[_Union[TokenUsage, _Mapping]] = ..., turn_usage: _Optional[_Iterable[_Union[TurnUsage, _Mapping]]] = ..., guidelines_available: _Optional[bool] = ..., warnings: _Optional[_Iterable[str]] = ..., model: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., searches: _Optional[_Iterable[_Union[GuidelineSearch, _Mapping]]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("patient_id", "subject", "page_size", "page_token")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    subject: str
    page_size: int
    page_token: str
    def __init__(self, patient_id: _Optional[str] = ..., subject: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("event_id", "started_at", "duration_ms", "method", "subject", "patient_id", "outcome", "agent_mode", "model", "cited_chunk_ids", "document_ids", "trace_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AGENT_MODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CITED_CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    started_at: _timestamp_pb2.Timestamp
    duration_ms: float
    method: str
    subject: str
    patient_id: str
    outcome: str
    agent_mode: AgentMode
    model: str
    cited_chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    trace_id: str
    def __init__(self, event_id: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[float] = ..., method: _Optional[str] = ..., subject: _Optional[str] = ..., patient_id: _Optional[str] = ..., outcome: _Optional[str] = ..., agent_mode: _Optional[_Union[AgentMode, str]] = ..., model: _Optional[str] = ..., cited_chunk_ids: _Optional[_Iterable[str]] = ..., document_ids: _Optional[_Iterable[str]] = ..., trace_id: _Optional[str] = ...) -> None: ...

class ListPatientsRequest(_message.Message):
    __slots__ = ("prefix", "page_size", "page_token")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    page_size: int
    page_token: str
    def __init__(self, prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPatientsResponse(_message.Message):
    __slots__ = ("patients", "next_page_token")
    PATIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patients: _containers.RepeatedCompositeFieldContainer[PatientSummary]
    next_page_token: str
    def __init__(self, patients: _Optional[_Iterable[_Union[PatientSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PatientSummary(_message.Message):
    __slots__ = ("patient_id", "given_name", "family_name", "birth_date")
    PATIENT_ID_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    patient_id: str
    given_name: str
    family_name: str
    birth_date: str
    def __init__(self, patient_id: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., birth_date: _Optional[str] = ...) -> None: ...
