"""Citations checked in one place, for every agent alike.

An agent cites the short source ids ("S1", "S2", ...) its searches handed out. An id that no
search of this briefing returned is never passed on as cited: an alert drops it, a
recommendation keeps it apart in ``invalid_source_ids``, and each one that cited such an id
adds a warning. Ids are compared without surrounding whitespace, each counted once, in the
order cited.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import replace

from services.orchestrator.agent.domain import AgentResult


def _split(ids: Iterable[str], known: Container[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ids a search returned, ids none did), each once, in the order cited."""
    unique = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    return tuple(i for i in unique if i in known), tuple(i for i in unique if i not in known)


def check_citations(result: AgentResult, known: Container[str]) -> AgentResult:
    """``result`` with every citation checked against ``known``, the ids searches returned."""
    warnings: list[str] = []
    alerts = []
    for number, alert in enumerate(result.alerts, start=1):
        cited, unknown = _split(alert.source_ids, known)
        if unknown:
            warnings.append(
                f"Alert {number} cited unknown source ids, dropped: {', '.join(unknown)}"
            )
        alerts.append(replace(alert, source_ids=cited))
    recommendations = []
    for number, rec in enumerate(result.recommendations, start=1):
        cited, unknown = _split([*rec.source_ids, *rec.invalid_source_ids], known)
        if unknown:
            warnings.append(
                f"Recommendation {number} cited unknown source ids: {', '.join(unknown)}"
            )
        recommendations.append(replace(rec, source_ids=cited, invalid_source_ids=unknown))
    return replace(
        result,
        alerts=alerts,
        recommendations=recommendations,
        warnings=[*result.warnings, *warnings],
    )
