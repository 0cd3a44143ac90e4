"""Plain-text guidelines: the first non-empty line is the title, blank lines separate blocks."""

from __future__ import annotations

import re
from pathlib import Path

from services.retriever.ingest.document import Document, SectionBuilder, metadata_from

_BLANK_LINES = re.compile(r"\n\s*\n")


def parse_text(path: Path) -> Document:
    """One section under the title; the document id is the file stem."""
    text = path.read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]
    first, *rest = paragraphs or [""]
    title_line, _, remainder = first.partition("\n")
    builder = SectionBuilder()
    for paragraph in [remainder, *rest]:
        builder.block(paragraph)
    metadata = metadata_from({}, path, title_line.strip())
    return Document(metadata=metadata, sections=builder.sections(metadata.title))
