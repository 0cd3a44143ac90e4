"""The shipped question set is valid: every expected document and section exists in the corpus's
chunks, as the ingestion CLI makes them, and the set has the size and mix it promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from eval.retrieval.chunks import Chunk, prepare_chunks
from eval.retrieval.questions import SECTION_SEPARATOR, Question, load_questions
from eval.retrieval.sets import GUIDELINES, guidelines_set

QUESTIONS = load_questions()


@pytest.fixture(scope="module")
def chunks() -> list[Chunk]:
    return prepare_chunks([GUIDELINES])


def test_the_set_has_eighty_questions_and_a_third_paraphrased() -> None:
    kinds = Counter(question.kind for question in QUESTIONS)
    assert len(QUESTIONS) >= 80
    assert kinds["paraphrased"] * 3 >= len(QUESTIONS)
    ways = Counter(how for question in QUESTIONS for how in question.how)
    assert ways["abbreviation"] >= 10 and ways["brand"] >= 10 and ways["lab-synonym"] >= 10


def test_every_expected_document_exists_in_the_corpus(chunks: list[Chunk]) -> None:
    documents = {chunk.document_id for chunk in chunks}
    missing = sorted({place.document for q in QUESTIONS for place in q.relevant} - documents)
    assert not missing, f"documents not in data/guidelines: {missing}"


def test_every_expected_section_exists_in_its_document(chunks: list[Chunk]) -> None:
    sections = {(chunk.document_id, chunk.section_path[1:]) for chunk in chunks}
    missing = [
        f"{q.id}: {place.document}: {place.section}"
        for q in QUESTIONS
        for place in q.relevant
        if (place.document, place.headings) not in sections
    ]
    assert not missing, "sections with no chunk:\n" + "\n".join(missing)


def test_the_guideline_set_judges_every_question_against_the_chunks() -> None:
    labelled = guidelines_set()
    assert len(labelled.queries) == len(QUESTIONS)
    chunks = {chunk.key: chunk for chunk in labelled.chunks}
    for query, question in zip(labelled.queries, QUESTIONS, strict=True):
        assert query.relevant, query.id
        for key in query.relevant:
            assert question.is_relevant(key[0], chunks[key].section_path)


def test_relevance_is_by_document_and_exact_section() -> None:
    question = QUESTIONS[0]
    place = question.relevant[0]
    title = "Any title"
    assert question.is_relevant(place.document, (title, *place.headings))
    assert not question.is_relevant("another-document", (title, *place.headings))
    assert not question.is_relevant(place.document, (title, *place.headings[:-1], "Other"))
    assert SECTION_SEPARATOR.join(place.headings) == place.section


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "questions.yaml"
    path.write_text(body, encoding="utf-8")
    return path


ENTRY = (
    "- id: q001\n  question: Dose?\n  kind: {kind}\n{how}"
    "  relevant:\n    - {{document: d, section: s}}\n"
)


def test_a_paraphrased_question_must_say_how(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="says how"):
        load_questions(_write(tmp_path, ENTRY.format(kind="paraphrased", how="")))
    with pytest.raises(ValidationError, match="no 'how'"):
        load_questions(_write(tmp_path, ENTRY.format(kind="plain", how="  how: [brand]\n")))
    with pytest.raises(ValidationError, match="brand"):
        load_questions(_write(tmp_path, ENTRY.format(kind="paraphrased", how="  how: [slang]\n")))
    loaded = load_questions(
        _write(tmp_path, ENTRY.format(kind="paraphrased", how="  how: [brand]\n"))
    )
    assert loaded == [
        Question.model_validate(
            {
                "id": "q001",
                "question": "Dose?",
                "kind": "paraphrased",
                "how": ["brand"],
                "relevant": [{"document": "d", "section": "s"}],
            }
        )
    ]


def test_question_ids_are_unique(tmp_path: Path) -> None:
    entry = ENTRY.format(kind="plain", how="")
    with pytest.raises(ValueError, match="q001 is used twice"):
        load_questions(_write(tmp_path, entry + entry))


def test_a_question_with_an_unknown_section_stops_the_set(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ENTRY.format(kind="plain", how="").replace("document: d", "document: kdigo-2021-bp-in-ckd"),
    )
    with pytest.raises(ValueError, match=r"q001: no chunk of .* lies in kdigo-2021-bp-in-ckd: s"):
        guidelines_set(questions=path)
