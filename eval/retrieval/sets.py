"""The two labelled sets, each turned into queries whose relevant chunks are known in advance.

- ``guidelines``: the project's own questions over ``data/guidelines`` (``questions.yaml``); a
  chunk is relevant when it lies in one of the question's expected sections.
- ``medquad``: MedQuAD NIDDK + NHLBI; a chunk is relevant when it shares a 60-character run of
  normalised text with the question's own answer (:mod:`eval.retrieval.relevance`). Each answer
  is headed by its question's type.
- ``medquad-question-headed``: the same pages, questions and rule, each answer headed by its
  question, as the source web pages head them and as issue 16's baseline was measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.retrieval.chunks import Chunk, ChunkKey, prepare_chunks
from eval.retrieval.medquad import HeadedBy, load_pages, write_pages
from eval.retrieval.questions import QUESTIONS, SECTION_SEPARATOR, load_questions
from eval.retrieval.relevance import relevant_sets

ROOT = Path(__file__).resolve().parents[2]
GUIDELINES = ROOT / "data" / "guidelines"
SYNONYMS_NAME = "synonyms.yaml"
MEDQUAD_KIND = "medquad"
#: The MedQuAD sets' names, by what heads each answer's section.
MEDQUAD_SETS: dict[HeadedBy, str] = {"type": "medquad", "question": "medquad-question-headed"}


@dataclass(frozen=True)
class Query:
    """One labelled question: its words, its kind, what it expects and its relevant chunks."""

    id: str
    text: str
    kind: str
    how: tuple[str, ...]
    expected: tuple[str, ...]
    relevant: frozenset[ChunkKey]


@dataclass(frozen=True)
class LabelledSet:
    """Files to ingest, the chunks they become, the queries judged against those chunks, and the
    synonym file that ships with the files (None when they have none)."""

    name: str
    paths: tuple[Path, ...]
    chunks: tuple[Chunk, ...]
    queries: tuple[Query, ...]
    synonyms: Path | None = None


def describe(chunk: Chunk) -> str:
    """``document id: heading > heading`` of a chunk, for reports."""
    return f"{chunk.document_id}: {SECTION_SEPARATOR.join(chunk.section_path[1:]) or '(title)'}"


def guidelines_set(folder: Path = GUIDELINES, questions: Path = QUESTIONS) -> LabelledSet:
    """The project's questions, judged against the chunks of ``folder``, with the folder's
    synonym file when it has one."""
    chunks = prepare_chunks([folder])
    queries = []
    for question in load_questions(questions):
        relevant = frozenset(
            chunk.key
            for chunk in chunks
            if question.is_relevant(chunk.document_id, chunk.section_path)
        )
        if not relevant:
            places = "; ".join(f"{p.document}: {p.section}" for p in question.relevant)
            raise ValueError(f"{question.id}: no chunk of {folder} lies in {places}")
        queries.append(
            Query(
                id=question.id,
                text=question.question,
                kind=question.kind,
                how=question.how,
                expected=tuple(f"{p.document}: {p.section}" for p in question.relevant),
                relevant=relevant,
            )
        )
    synonyms = folder / SYNONYMS_NAME
    return LabelledSet(
        "guidelines",
        (folder,),
        tuple(chunks),
        tuple(queries),
        synonyms if synonyms.is_file() else None,
    )


def medquad_set(source: Path, scratch: Path, headed_by: HeadedBy = "type") -> LabelledSet:
    """MedQuAD's pages written as HTML into ``scratch``, answers headed as ``headed_by`` says, and
    their questions judged by the 60-character rule. MedQuAD ships no synonym file, so its
    searches have none."""
    pages = load_pages(source)
    folder = scratch / "pages"
    write_pages(pages, folder, headed_by)
    chunks = prepare_chunks([folder])
    pairs = [pair for page in pages for pair in page.pairs]
    judged = relevant_sets(
        [pair.answer for pair in pairs], {chunk.key: chunk.text for chunk in chunks}
    )
    queries = []
    for pair, relevant in zip(pairs, judged, strict=True):
        if not relevant:
            raise ValueError(f"MedQuAD {pair.question_id}: no chunk shares text with its answer")
        queries.append(
            Query(
                id=pair.question_id,
                text=pair.question,
                kind=MEDQUAD_KIND,
                how=(),
                expected=(pair.document_id,),
                relevant=frozenset(relevant),
            )
        )
    return LabelledSet(MEDQUAD_SETS[headed_by], (folder,), tuple(chunks), tuple(queries))


def distinct_texts(queries: Sequence[Query]) -> list[str]:
    """Each query text once, in first-seen order (MedQuAD repeats questions across pages)."""
    return list(dict.fromkeys(query.text for query in queries))
