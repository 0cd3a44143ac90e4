"""Bounds written into the contracts, defined once.

Each bound here is part of a ``.proto`` contract (its comment states it, and
``tests/test_contracts.py`` checks that the two agree). Servicers validate against these names,
settings take them as their upper bounds, and the Claude tool schema advertises them, so a
change is made here and nowhere else.
"""

from __future__ import annotations

from typing import Final

#: ``BriefOptions.max_turns``: most agent turns in one briefing.
MAX_AGENT_TURNS: Final = 4
#: ``BriefOptions.max_results_per_search``: most hits one guideline search of an agent returns.
MAX_RESULTS_PER_SEARCH: Final = 10
#: ``SearchRequest.query``: most characters in one Retriever query.
MAX_QUERY_CHARS: Final = 2_000
#: ``SearchRequest.limit``: most hits of one Retriever search, and the default when it is 0.
MAX_SEARCH_LIMIT: Final = 50
DEFAULT_SEARCH_LIMIT: Final = 5
