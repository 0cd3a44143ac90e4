"""Bounds written into the contracts, defined once.

Each bound here is part of a ``.proto`` contract (its comment states it, and
``tests/test_contracts.py`` checks that the two agree). Servicers validate against these names,
settings take them as their upper bounds, and the Claude tool schema advertises them, so a
change is made here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Final

#: ``BriefRequest.patient_id`` (and every other patient id in the contracts).
PATIENT_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: ``BriefOptions.max_turns``: most agent turns in one briefing.
MAX_AGENT_TURNS: Final = 4
#: ``BriefOptions.max_results_per_search``: most hits one guideline search of an agent returns.
MAX_RESULTS_PER_SEARCH: Final = 10
#: ``SearchRequest.query``: most characters in one Retriever query.
MAX_QUERY_CHARS: Final = 2_000
#: ``SearchRequest.limit``: most hits of one Retriever search, and the default when it is 0.
MAX_SEARCH_LIMIT: Final = 50
DEFAULT_SEARCH_LIMIT: Final = 5
#: ``ListAuditEventsRequest.page_size``: most audit events in one page, and the default.
MAX_AUDIT_PAGE_SIZE: Final = 500
DEFAULT_AUDIT_PAGE_SIZE: Final = 50
#: ``ListAuditEventsRequest.subject``: most characters of a caller's subject.
MAX_SUBJECT_CHARS: Final = 256
#: ``ListPatientsRequest.page_size``: most patients in one page, and the default.
MAX_PATIENT_PAGE_SIZE: Final = 200
DEFAULT_PATIENT_PAGE_SIZE: Final = 50
#: ``ListPatientsRequest.prefix``: most characters of a patient id or name prefix.
MAX_PATIENT_PREFIX_CHARS: Final = 64
#: ``EmbedRequest.texts``: most characters of one text, truncated or not.
MAX_EMBED_TEXT_CHARS: Final = 100_000
#: ``SearchFilter.document_ids``, ``.topics`` and ``.issuers``: most values in each list.
MAX_FILTER_VALUES: Final = 100
#: Most characters of a value searches filter on: each ``SearchFilter`` value, and a ``Source``'s
#: ``document_id``, ``issuer`` and each of its ``topics``.
MAX_KEYWORD_CHARS: Final = 256
#: ``IngestChunk.text``: most characters of one chunk's passage.
MAX_CHUNK_TEXT_CHARS: Final = 20_000
#: ``IngestChunk.context``: most characters of one chunk's heading line.
MAX_CHUNK_CONTEXT_CHARS: Final = 2_000
#: ``IngestChunk.chunk_count``: most chunks one document may declare.
MAX_CHUNKS_PER_DOCUMENT: Final = 100_000
#: ``Source.title``: most characters of a document's title.
MAX_TITLE_CHARS: Final = 500
#: ``Source``: most characters of its ``url``, ``guideline`` and each ``section_path`` heading.
MAX_SOURCE_FIELD_CHARS: Final = 2_000
#: ``Source.section_path`` and ``Source.topics``: most items in each.
MAX_SOURCE_LIST_ITEMS: Final = 32
