"""MedQuAD NIDDK + NHLBI as a labelled retrieval set: each question's relevant passage is its own
answer (Ben Abacha and Demner-Fushman, BMC Bioinformatics 2019; CC BY 4.0).

The subsets live in the project's shared data (``../shared/medquad``, or ``MEDQUAD_DIR``), not in
a user's clone; without them this set is skipped. Each XML file is one web page; it is written
back out as an HTML page for the ingestion CLI: the page's focus as title and top heading, a
``Source:`` line with its address, then one section per answer. Answers that are empty in the
original are skipped.

Each answer's section is headed in one of two ways (``HEADED_BY``):

- ``"type"``: by the question's type ("Symptoms", "Treatment", ...), never by the question itself,
  which would put the question's own words into its answer's chunk context;
- ``"question"``: by the question ("What are the symptoms of Celiac Disease ?"), as the NIDDK and
  NHLBI web pages head their sections, and as the conversion issue 16's baseline was measured on
  (5,404 chunks with the contextual headers, its 5,592 less one title-only chunk per page).
"""

from __future__ import annotations

import html
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT.parent / "shared" / "medquad"
DIR_VARIABLE = "MEDQUAD_DIR"
SUBSETS = ("5_NIDDK_QA", "8_NHLBI_QA_XML")
HeadedBy = Literal["type", "question"]
"""What heads each answer's section: its question's type, or the question itself."""
HEADED_BY: tuple[HeadedBy, ...] = get_args(HeadedBy)


@dataclass(frozen=True)
class Pair:
    """One question with its answer, and the page (document) it comes from."""

    question_id: str
    question: str
    answer: str
    document_id: str
    qtype: str


@dataclass(frozen=True)
class Page:
    """One MedQuAD web page: its id, topic, address and question–answer pairs."""

    document_id: str
    source: str
    focus: str
    url: str
    pairs: tuple[Pair, ...]


def medquad_dir() -> Path:
    """Where the subsets are: ``MEDQUAD_DIR`` when set, else ``../shared/medquad``."""
    configured = os.environ.get(DIR_VARIABLE, "").strip()
    return Path(configured) if configured else DEFAULT_DIR


def missing_reason(folder: Path) -> str | None:
    """Why the set cannot run from ``folder`` (a sentence), or None when it can."""
    absent = [name for name in SUBSETS if not (folder / name).is_dir()]
    if not absent:
        return None
    return (
        f"MedQuAD set skipped: {', '.join(absent)} not found in {folder} (the project's shared "
        f"data; set {DIR_VARIABLE} to the folder holding {' and '.join(SUBSETS)})"
    )


def read_page(path: Path) -> Page | None:
    """The page in ``path``; None when none of its answers has text."""
    root = ET.parse(path).getroot()
    source = (root.get("source") or path.parent.name).strip()
    document_id = f"medquad-{source.lower()}-{root.get('id') or path.stem}"
    focus = " ".join((root.findtext("Focus") or path.stem).split())
    pairs = []
    for pair in root.iter("QAPair"):
        question = pair.find("Question")
        answer = (pair.findtext("Answer") or "").strip()
        if question is None or not answer or not (question.text or "").strip():
            continue
        pairs.append(
            Pair(
                question_id=f"{source.lower()}-{question.get('qid') or pair.get('pid')}",
                question=" ".join((question.text or "").split()),
                answer=answer,
                document_id=document_id,
                qtype=(question.get("qtype") or "information").strip(),
            )
        )
    if not pairs:
        return None
    return Page(document_id, source, focus, (root.get("url") or "").strip(), tuple(pairs))


def load_pages(folder: Path) -> list[Page]:
    """Every page of the subsets that has at least one answer, in file order."""
    pages = []
    for subset in SUBSETS:
        for path in sorted((folder / subset).glob("*.xml")):
            page = read_page(path)
            if page is not None:
                pages.append(page)
    return pages


def heading(pair: Pair, headed_by: HeadedBy) -> str:
    """The heading of the pair's answer: its question type, capitalised, or its question."""
    return pair.question if headed_by == "question" else pair.qtype.capitalize()


def page_html(page: Page, headed_by: HeadedBy = "type") -> str:
    """The page as HTML for the ingestion CLI (its metadata in ``<meta>`` tags), each answer
    headed as ``headed_by`` says."""
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(page.focus)}</title>",
        f'<meta name="document-id" content="{escape(page.document_id)}">',
        f'<meta name="issuer" content="{escape(page.source)}">',
        f'<meta name="url" content="{escape(page.url)}">',
        '<meta name="topics" content="medquad">',
        "</head><body>",
        f"<h1>{escape(page.focus)}</h1>",
        f"<p>Source: {escape(page.url)}</p>",
    ]
    for pair in page.pairs:
        parts.append(f"<h2>{escape(heading(pair, headed_by))}</h2>")
        parts.extend(
            f"<p>{escape(line.strip())}</p>" for line in pair.answer.splitlines() if line.strip()
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_pages(pages: Sequence[Page], folder: Path, headed_by: HeadedBy = "type") -> list[Path]:
    """Writes one HTML file per page into ``folder``, answers headed as ``headed_by`` says;
    returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        path = folder / f"{page.document_id}.html"
        path.write_text(page_html(page, headed_by), encoding="utf-8")
        written.append(path)
    return written
