"""HTML guidelines: metadata from ``<meta name=...>`` tags and ``<title>``, sections from h1–h4.

Recognised meta names: ``document-id`` (or ``id``), ``title``, ``issuer``, ``guideline``,
``year``, ``url`` and ``topics`` (comma-separated).
"""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup, Tag

from services.retriever.ingest.document import Document, SectionBuilder, metadata_from

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
# Elements whose text is one block; one nested inside another is read with its outer element.
BLOCKS = {"p", "li", "pre", "tr", "dt", "dd", "h5", "h6", "figcaption", "caption"}
META_ALIASES = {"document-id": "id", "document_id": "id"}


def _meta(soup: BeautifulSoup) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        name = str(tag.get("name") or "").strip().lower()
        content = tag.get("content")
        if name and content is not None:
            values[META_ALIASES.get(name, name)] = str(content)
    if "title" not in values and soup.title and soup.title.string:
        values["title"] = str(soup.title.string)
    return values


def _block_text(tag: Tag) -> str:
    if tag.name == "tr":
        return " | ".join(cell.get_text().strip() for cell in tag.find_all(["th", "td"]))
    # No separator: inline elements (<strong>, <a>) must not split words or punctuation apart.
    text = tag.get_text().strip()
    return f"- {text}" if tag.name == "li" else text


def parse_html(path: Path) -> Document:
    """Walks the body in document order: headings open sections, block elements add text."""
    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    builder = SectionBuilder()
    root = soup.body or soup
    wanted = [*HEADINGS, *BLOCKS]
    for tag in root.find_all(wanted):
        if tag.find_parent(wanted) is not None:
            continue
        if tag.name in HEADINGS:
            builder.heading(HEADINGS[tag.name], tag.get_text())
        else:
            builder.block(_block_text(tag))
    metadata = metadata_from(_meta(soup), path, builder.first_title)
    return Document(metadata=metadata, sections=builder.sections(metadata.title))
