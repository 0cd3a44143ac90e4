"""A parsed guideline document: its metadata and its text by section, whatever the file format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Most characters of a Markdown file's YAML front matter.
MAX_FRONT_MATTER_CHARS = 16_384
#: Most characters of a title (a longer first heading used as the title is shortened).
MAX_TITLE_CHARS = 300
#: Most characters of the id, issuer, guideline name and each topic.
MAX_FIELD_CHARS = 500
#: Most characters of the URL.
MAX_URL_CHARS = 2_048
#: Most topics of one document.
MAX_TOPICS = 50


class DocumentError(ValueError):
    """A file could not be turned into a document; the message says why."""


@dataclass(frozen=True)
class Section:
    """The text blocks (paragraphs, list items, table rows) under one heading."""

    path: tuple[str, ...]
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class Metadata:
    """What a document says about itself; only ``document_id`` and ``title`` are required."""

    document_id: str
    title: str
    issuer: str = ""
    guideline: str = ""
    year: int = 0
    url: str = ""
    topics: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Document:
    """Metadata plus sections in reading order."""

    metadata: Metadata
    sections: tuple[Section, ...]


def metadata_from(values: Mapping[str, object], path: Path, fallback_title: str = "") -> Metadata:
    """Metadata from a key/value mapping (front matter, HTML meta tags, PDF info).

    The document id falls back to the file stem, the title to ``fallback_title`` (usually the
    first heading, shortened to ``MAX_TITLE_CHARS``) and then to the file stem (a file whose top
    heading is empty); ``topics`` may be a list or a comma-separated string. A value that is
    not text (a mapping or list where text belongs) or is longer than its limit is refused.
    """
    title = _text(values, "title", MAX_TITLE_CHARS) or _shortened(fallback_title) or path.stem
    year_value = values.get("year")
    if not isinstance(year_value, str | int | None):
        raise DocumentError(f"year must be a number, got {type(year_value).__name__}")
    try:
        year = int(str(year_value)) if year_value not in (None, "") else 0
    except ValueError:
        raise DocumentError(f"year {str(year_value)[:20]!r} is not a number") from None
    topics_value = values.get("topics") or ()
    topics = topics_value.split(",") if isinstance(topics_value, str) else topics_value
    if not isinstance(topics, list | tuple):
        raise DocumentError(f"topics must be a list, got {type(topics_value).__name__}")
    if len(topics) > MAX_TOPICS:
        raise DocumentError(f"{len(topics)} topics; the limit is {MAX_TOPICS}")
    cleaned_topics = [_text({"topic": topic}, "topic", MAX_FIELD_CHARS) for topic in topics]
    return Metadata(
        document_id=_text(values, "id", MAX_FIELD_CHARS) or path.stem,
        title=title,
        issuer=_text(values, "issuer", MAX_FIELD_CHARS),
        guideline=_text(values, "guideline", MAX_FIELD_CHARS),
        year=year,
        url=_text(values, "url", MAX_URL_CHARS),
        topics=tuple(t for t in cleaned_topics if t),
    )


def _text(values: Mapping[str, object], key: str, limit: int) -> str:
    """The value at ``key`` as one line of text; DocumentError when it is not a scalar or is
    longer than ``limit`` characters."""
    value = values.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float | bool):
        raise DocumentError(f"{key} must be text, got {type(value).__name__}")
    raw = str(value)
    if len(raw) > limit * 4:  # never split a huge value just to measure it
        raise DocumentError(f"{key} is {len(raw)} characters long; the limit is {limit}")
    text = " ".join(raw.split())
    if len(text) > limit:
        raise DocumentError(f"{key} is {len(text)} characters long; the limit is {limit}")
    return text


def _shortened(title: str) -> str:
    """A heading used as the title, cut to ``MAX_TITLE_CHARS`` at a word boundary."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


class SectionBuilder:
    """Collects blocks under a heading stack while a parser walks a document in order.

    The section path holds the heading texts from the outermost down; when the document has no
    top-level heading, the title is put in front so every path starts at the document.
    """

    def __init__(self) -> None:
        self._headings: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._sections: list[tuple[tuple[tuple[int, str], ...], list[str]]] = []
        self.first_title = ""
        """Text of the first level-1 heading, a fallback for the document title."""

    def heading(self, level: int, text: str) -> None:
        """Starts a section under a heading of ``level`` (1 = top)."""
        self._close()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        cleaned = " ".join(text.split())
        if level == 1 and not self.first_title:
            self.first_title = cleaned
        self._headings.append((level, cleaned))

    def block(self, text: str) -> None:
        """Adds a paragraph, list item or table row to the current section."""
        cleaned = " ".join(text.split())
        if cleaned:
            self._blocks.append(cleaned)

    def _close(self) -> None:
        if self._blocks:
            self._sections.append((tuple(self._headings), self._blocks))
        self._blocks = []

    def sections(self, title: str) -> tuple[Section, ...]:
        """All non-empty sections; paths start with the title unless a level-1 heading leads.

        An empty level-1 heading stands for the title; other empty headings are left out.
        """
        self._close()
        result = []
        for headings, blocks in self._sections:
            path = [text or title if level == 1 else text for level, text in headings]
            if not headings or headings[0][0] != 1:
                path.insert(0, title)
            result.append(Section(path=tuple(p for p in path if p), blocks=tuple(blocks)))
        return tuple(result)
