"""Which parser reads which file, by suffix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.retriever.ingest.document import Document, DocumentError
from services.retriever.ingest.html_parser import parse_html
from services.retriever.ingest.markdown_parser import parse_markdown
from services.retriever.ingest.pdf_parser import parse_pdf
from services.retriever.ingest.text_parser import parse_text

Parser = Callable[[Path], Document]

PARSERS: dict[str, Parser] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_text,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
}


def parse_file(path: Path) -> Document:
    """Parses one file with the parser for its suffix; raises DocumentError when it cannot."""
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise DocumentError(f"unsupported file type {path.suffix!r}")
    try:
        return parser(path)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}") from None
