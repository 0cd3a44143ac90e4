"""Markdown guidelines: YAML front matter for metadata, markdown-it-py for the structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from services.retriever.ingest.document import (
    MAX_FRONT_MATTER_CHARS,
    Document,
    DocumentError,
    SectionBuilder,
    metadata_from,
)

_MARKDOWN = MarkdownIt("commonmark").enable("table")


class _FrontMatterLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only) that refuses aliases: a few hundred bytes of nested
    aliases expand to gigabytes when the values are turned into text (a "billion laughs"), and
    front matter has no use for them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # The front matter starts on the file's second line (after "---").
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise DocumentError(
                f"front matter uses a YAML alias (*{event.anchor}, line "
                f"{event.start_mark.line + 2} of the file); aliases are not allowed there"
            )
        return super().compose_node(parent, index)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML mapping between leading ``---`` lines (empty when absent) and the body.

    The front matter may hold at most ``MAX_FRONT_MATTER_CHARS`` characters and no aliases.
    """
    if not text.startswith("---"):
        return {}, text
    first_end = text.find("\n")
    if first_end == -1 or text[:first_end].strip() != "---":
        return {}, text
    position = first_end + 1
    while position < len(text):
        line_end = text.find("\n", position)
        line_end = len(text) if line_end == -1 else line_end
        if text[position:line_end].strip() in {"---", "..."}:
            values = _load_front_matter(text[first_end + 1 : position])
            return values, text[line_end + 1 :]
        if position - first_end > MAX_FRONT_MATTER_CHARS:
            break
        position = line_end + 1
    if position - first_end > MAX_FRONT_MATTER_CHARS:
        raise DocumentError(
            f"front matter is longer than {MAX_FRONT_MATTER_CHARS} characters (or has no "
            "closing '---' line)"
        )
    raise DocumentError("front matter has no closing '---' line")


def _load_front_matter(source: str) -> dict[str, Any]:
    try:
        values = yaml.load(source, Loader=_FrontMatterLoader) or {}  # a SafeLoader
    except yaml.YAMLError as exc:
        raise DocumentError(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(values, dict):
        raise DocumentError("front matter is not a mapping")
    return values


def inline_text(token: Token) -> str:
    """Plain text of an inline token: emphasis and link markup dropped, breaks as spaces."""
    parts = []
    for child in token.children or []:
        if child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


def parse_markdown(path: Path) -> Document:
    """Sections from ``#`` headings; paragraphs, list items, table rows and code as blocks."""
    front_matter, body = split_front_matter(path.read_text(encoding="utf-8"))
    builder = SectionBuilder()
    tokens = _MARKDOWN.parse(body)
    row: list[str] | None = None
    item_prefix = ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            builder.heading(int(token.tag[1]), inline_text(tokens[index + 1]))
        elif token.type == "list_item_open":
            item_prefix = f"{token.info}{token.markup} " if token.info else "- "
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            builder.block(" | ".join(row))
            row = None
        elif token.type in {"fence", "code_block"}:
            builder.block(token.content)
        elif token.type == "inline" and tokens[index - 1].type != "heading_open":
            text = inline_text(token)
            if row is not None:
                row.append(text)
            else:
                builder.block(item_prefix + text)
                item_prefix = ""
    metadata = metadata_from(front_matter, path, builder.first_title)
    return Document(metadata=metadata, sections=builder.sections(metadata.title))
