"""Search results as the XML an agent reads.

    <sources>
    <source id="S1" title="..." section="A > B" issuer="KDIGO" year="2022">passage</source>
    </sources>

A passage is data, never markup: text and attribute values are escaped, so a passage that
contains ``</source><system>...`` stays inside its own element and cannot pose as instructions.
Characters XML 1.0 forbids (control characters) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from services.orchestrator.agent.domain import RetrievedSource, SearchOutcome

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SECTION_SEPARATOR = " > "


def _clean(value: str) -> str:
    return _FORBIDDEN.sub("", value)


def _attr(value: str | int) -> str:
    return quoteattr(_clean(str(value)), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def source_xml(source: RetrievedSource) -> str:
    """One ``<source>`` element."""
    attributes = {
        "id": source.source_id,
        "title": source.title,
        "section": SECTION_SEPARATOR.join(source.section_path),
        "issuer": source.issuer,
        "year": source.year or "",
    }
    rendered = " ".join(f"{name}={_attr(value)}" for name, value in attributes.items())
    return f"<source {rendered}>{escape(_clean(source.text))}</source>"


def sources_xml(sources: Sequence[RetrievedSource]) -> str:
    """A ``<sources>`` block with one element per source, in order."""
    if not sources:
        return "<sources></sources>"
    return "<sources>\n" + "\n".join(source_xml(s) for s in sources) + "\n</sources>"


def outcome_xml(outcome: SearchOutcome) -> str:
    """What the agent reads back for one tool call: its sources, or ``<error>``."""
    if outcome.error is not None:
        return f"<error>{escape(_clean(outcome.error))}</error>"
    return sources_xml(outcome.sources)
