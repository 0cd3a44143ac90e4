"""Markdown guidelines: YAML front matter for metadata, markdown-it-py for the structure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from services.retriever.ingest.document import (
    Document,
    DocumentError,
    SectionBuilder,
    metadata_from,
)

_MARKDOWN = MarkdownIt("commonmark").enable("table")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML mapping between leading ``---`` lines (empty when absent) and the body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in {"---", "..."}:
            try:
                values = yaml.safe_load("".join(lines[1:index])) or {}
            except yaml.YAMLError as exc:
                raise DocumentError(f"front matter is not valid YAML: {exc}") from None
            if not isinstance(values, dict):
                raise DocumentError("front matter is not a mapping")
            return values, "".join(lines[index + 1 :])
    raise DocumentError("front matter has no closing '---' line")


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
