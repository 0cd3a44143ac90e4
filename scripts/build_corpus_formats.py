"""Renders some Markdown guidelines of data/guidelines_src into HTML and PDF in data/guidelines.

The corpus is written in Markdown; real guidelines also come as web pages and PDFs, so the
ingest CLI reads those too. This script makes one of each from the Markdown sources named below,
carrying the same metadata the way such files do:

- HTML: ``<title>`` and ``<meta name="document-id|issuer|guideline|year|url|topics">`` tags,
  the body rendered by markdown-it-py (h1–h4 headings, paragraphs, lists, tables);
- PDF (fpdf2, DejaVu Sans when installed, else a core font): the document information
  dictionary (/Title, /Author = issuer, /Subject = guideline, /Keywords = topics, and the custom
  /DocumentId, /Year, /URL) and a bookmark (outline entry) for every heading.

Output is deterministic (fixed creation date and file id), so re-running it does not change the
files' bytes and re-ingesting them is a no-op.

    .venv/bin/python scripts/build_corpus_formats.py
"""

from __future__ import annotations

import datetime as dt
import html
import io
import sys
from pathlib import Path

from fpdf import FPDF
from markdown_it import MarkdownIt
from pypdf import PdfWriter

from services.retriever.ingest.document import Document, Metadata
from services.retriever.ingest.markdown_parser import parse_markdown, split_front_matter

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "data" / "guidelines_src"
OUTPUT = ROOT / "data" / "guidelines"
HTML_SOURCES = ("kdigo-2024-ckd-anemia-mineral",)
PDF_SOURCES = ("aha-2021-chest-pain-cad-secondary-prevention",)
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
# Core-font fallback: characters Latin-1 cannot encode, spelled out.
LATIN1_REPLACEMENTS = {"≥": ">=", "≤": "<=", "–": "-", "—": "-", "’": "'", "“": '"', "”": '"'}


def render_html(source: Path) -> str:
    """The Markdown body as an HTML page whose head carries the front-matter metadata."""
    _, body = split_front_matter(source.read_text(encoding="utf-8"))
    meta = parse_markdown(source).metadata
    values = {
        "document-id": meta.document_id,
        "issuer": meta.issuer,
        "guideline": meta.guideline,
        "year": str(meta.year or ""),
        "url": meta.url,
        "topics": ",".join(meta.topics),
    }
    tags = "\n".join(
        f'  <meta name="{name}" content="{html.escape(value)}">'
        for name, value in values.items()
        if value
    )
    rendered = MarkdownIt("commonmark").enable("table").render(body)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        f"  <title>{html.escape(meta.title)}</title>\n{tags}\n</head>\n<body>\n"
        f"{rendered}</body>\n</html>\n"
    )


class _GuidelinePdf(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=20)
        if (DEJAVU / "DejaVuSans.ttf").exists():
            self.add_font("Body", "", str(DEJAVU / "DejaVuSans.ttf"))
            self.add_font("Body", "B", str(DEJAVU / "DejaVuSans-Bold.ttf"))
            self._unicode_font = True
        else:
            self._unicode_font = False

    def clean(self, value: str) -> str:
        if self._unicode_font:
            return value
        for char, replacement in LATIN1_REPLACEMENTS.items():
            value = value.replace(char, replacement)
        return value.encode("latin-1", "replace").decode("latin-1")

    def use_font(self, style: str, size: float) -> None:
        self.set_font("Body" if self._unicode_font else "Helvetica", style, size)


def _set_info(pdf: _GuidelinePdf, meta: Metadata) -> None:
    pdf.set_title(meta.title)
    pdf.set_author(meta.issuer)
    pdf.set_subject(meta.guideline)
    pdf.set_keywords(",".join(meta.topics))
    pdf.set_creator("scripts/build_corpus_formats.py")
    pdf.set_creation_date(dt.datetime(meta.year or 2000, 1, 1, tzinfo=dt.UTC))


def render_pdf(source: Path) -> bytes:
    """A PDF of the document: bookmarked headings, paragraphs, bullet items; metadata in info."""
    document: Document = parse_markdown(source)
    meta = document.metadata
    pdf = _GuidelinePdf()
    _set_info(pdf, meta)
    pdf.add_page()
    previous: tuple[str, ...] = ()
    heading_sizes = (18.0, 14.0, 12.0, 11.0)
    for section in document.sections:
        common = 0
        while common < min(len(previous), len(section.path)):
            if previous[common] != section.path[common]:
                break
            common += 1
        for level in range(common, len(section.path)):
            title = section.path[level]
            pdf.start_section(pdf.clean(title), level=level)
            pdf.use_font("B", heading_sizes[min(level, len(heading_sizes) - 1)])
            pdf.ln(2)
            pdf.multi_cell(0, 7, pdf.clean(title), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        previous = section.path
        pdf.use_font("", 10.5)
        for block in section.blocks:
            text = "• " + block[2:] if block.startswith("- ") else block
            pdf.multi_cell(0, 5.5, pdf.clean(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
    writer = PdfWriter(clone_from=io.BytesIO(bytes(pdf.output())))
    writer.add_metadata(
        {"/DocumentId": meta.document_id, "/Year": str(meta.year), "/URL": meta.url}
    )
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def main() -> int:
    missing = [
        name for name in (*HTML_SOURCES, *PDF_SOURCES) if not (SOURCES / f"{name}.md").exists()
    ]
    if missing:
        print(f"missing sources in {SOURCES}: {', '.join(missing)}", file=sys.stderr)
        return 1
    for name in HTML_SOURCES:
        target = OUTPUT / f"{name}.html"
        target.write_text(render_html(SOURCES / f"{name}.md"), encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")
    for name in PDF_SOURCES:
        target = OUTPUT / f"{name}.pdf"
        target.write_bytes(render_pdf(SOURCES / f"{name}.md"))
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
