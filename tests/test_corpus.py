"""The shipped guideline corpus: size, coverage, formats, and an up-to-date SOURCES.md."""

from __future__ import annotations

import re
from pathlib import Path

from scripts import sources_table

CORPUS = sources_table.CORPUS
REQUIRED_TOPICS = {
    "diabetes",
    "hypertension",
    "ckd",
    "heart-failure",
    "lipids",
    "anticoagulation",
    "drug-kidney",
}


def _markdown_sources() -> list[Path]:
    return [*CORPUS.glob("*.md"), *sources_table.RENDERED_FROM.glob("*.md")]


def test_corpus_is_large_enough() -> None:
    documents = [p for p in CORPUS.iterdir() if p.suffix in {".md", ".html", ".pdf", ".txt"}]
    assert len(documents) >= 30
    words = sum(len(re.findall(r"\w+", p.read_text(encoding="utf-8"))) for p in _markdown_sources())
    assert words >= 25_000


def test_corpus_covers_the_demo_patients_problems() -> None:
    topics = set()
    for path in _markdown_sources():
        meta = sources_table.front_matter(path)
        assert meta["id"] == path.stem
        assert {"title", "issuer", "guideline", "year", "url", "topics"} <= meta.keys()
        assert isinstance(meta["topics"], list)
        topics |= set(meta["topics"])
    assert topics >= REQUIRED_TOPICS


def test_corpus_ships_html_and_pdf() -> None:
    assert list(CORPUS.glob("*.html"))
    assert list(CORPUS.glob("*.pdf"))


def test_sources_table_is_up_to_date() -> None:
    assert sources_table.main(["--check"]) == 0, "run: python -m scripts.sources_table"
