"""PDF guidelines: metadata from the document information dictionary, sections from the outline.

Metadata keys: ``/Title``, ``/Author`` (the issuer), ``/Subject`` (the guideline's full name),
``/Keywords`` (topics, comma-separated), and the custom keys ``/DocumentId``, ``/Year`` and
``/URL``; the document id falls back to the file stem. Headings are the PDF's bookmarks (outline):
a line of page text that spells the next bookmark title (possibly wrapped over several lines)
opens a section at the bookmark's depth. A PDF without bookmarks becomes one section.

pypdf logs the repairs it makes to a damaged file ("incorrect startxref pointer", "EOF marker not
found") as warnings, which Python prints on stderr when nothing else handles them, right through
the ingestion CLI's progress bar. They are dropped here: a file pypdf cannot read still fails
with a DocumentError that names it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from services.retriever.ingest.document import (
    Document,
    DocumentError,
    SectionBuilder,
    metadata_from,
)

_PYPDF_LOG = logging.getLogger("pypdf")
_PYPDF_LOG.addHandler(logging.NullHandler())
_PYPDF_LOG.propagate = False

BULLETS = ("•", "- ", "– ", "* ")
INFO_KEYS = {
    "/Title": "title",
    "/Author": "issuer",
    "/Subject": "guideline",
    "/Keywords": "topics",
    "/DocumentId": "id",
    "/Year": "year",
    "/URL": "url",
}


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _outline(reader: PdfReader) -> list[tuple[int, str]]:
    """Bookmark titles with their depth (1 = top), in document order."""
    found: list[tuple[int, str]] = []

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
            else:
                found.append((level, _normalise(str(item.title))))

    walk(reader.outline, 1)
    return found


def _heading_span(lines: list[str], start: int, title: str) -> int:
    """How many lines from ``start`` spell ``title`` (0 when they do not)."""
    joined = ""
    for end in range(start, len(lines)):
        joined = _normalise(f"{joined} {lines[end]}")
        if joined == title:
            return end - start + 1
        if not title.startswith(joined):
            return 0
    return 0


def parse_pdf(path: Path) -> Document:
    """Reads the text of every page and splits it at the bookmarked headings."""
    try:
        reader = PdfReader(path)
        info: dict[str, Any] = dict(reader.metadata or {})
        outline = _outline(reader)
        lines = [
            line.strip()
            for page in reader.pages
            for line in (page.extract_text() or "").splitlines()
            if line.strip()
        ]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"not a readable PDF: {exc}") from None
    builder = SectionBuilder()
    paragraph: list[str] = []

    def end_paragraph() -> None:
        builder.block(" ".join(paragraph))
        paragraph.clear()

    next_heading = 0
    index = 0
    while index < len(lines):
        if next_heading < len(outline):
            level, title = outline[next_heading]
            span = _heading_span(lines, index, title)
            if span:
                end_paragraph()
                builder.heading(level, title)
                next_heading += 1
                index += span
                continue
        line = lines[index]
        if line.startswith(BULLETS):
            end_paragraph()
        paragraph.append(line)
        index += 1
    end_paragraph()
    values = {key: info[pdf_key] for pdf_key, key in INFO_KEYS.items() if pdf_key in info}
    metadata = metadata_from(values, path, builder.first_title)
    return Document(metadata=metadata, sections=builder.sections(metadata.title))
