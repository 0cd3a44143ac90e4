"""MedQuAD pages become HTML the ingestion CLI's parser reads back faithfully, and the set is
skipped with a clear message when its data is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.retrieval.medquad import (
    DEFAULT_DIR,
    DIR_VARIABLE,
    HEADED_BY,
    SUBSETS,
    load_pages,
    medquad_dir,
    missing_reason,
    page_html,
    read_page,
    write_pages,
)
from eval.retrieval.relevance import normalise
from eval.retrieval.sets import MEDQUAD_SETS, medquad_set
from services.retriever.ingest.html_parser import parse_html

ANSWER_1 = (  # the original's blank lines hold spaces, and its lines are indented
    "The heart pumps blood &quot;around&quot; the body.\n                \n"
    "    - Lungs move air; the heart moves blood."
)
ANSWER_3 = "An echocardiogram shows how well the heart pumps &lt;and fills&gt;."
PAGE = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000042" source="NHLBI" url="http://www.nhlbi.nih.gov/health/a&amp;b">
<Focus>Heart &amp; Lung &lt;Test&gt;</Focus>
<QAPairs>
  <QAPair pid="1">
    <Question qid="0000042-1" qtype="information">What is (are) Heart &amp; Lung ?</Question>
    <Answer>{ANSWER_1}</Answer>
  </QAPair>
  <QAPair pid="2">
    <Question qid="0000042-2" qtype="symptoms">Symptoms of Heart &amp; Lung ?</Question>
    <Answer></Answer>
  </QAPair>
  <QAPair pid="3">
    <Question qid="0000042-3" qtype="exams and tests">How to diagnose Heart &amp; Lung ?</Question>
    <Answer>{ANSWER_3}</Answer>
  </QAPair>
</QAPairs>
</Document>
"""
EMPTY = PAGE.replace(ANSWER_1, "  ").replace(ANSWER_3, "")


def _xml(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_page_keeps_its_answered_pairs(tmp_path: Path) -> None:
    page = read_page(_xml(tmp_path, "0000042.xml", PAGE))
    assert page is not None
    assert page.document_id == "medquad-nhlbi-0000042"
    assert page.focus == "Heart & Lung <Test>"
    assert [pair.question_id for pair in page.pairs] == ["nhlbi-0000042-1", "nhlbi-0000042-3"]
    assert page.pairs[0].question == "What is (are) Heart & Lung ?"


def test_a_page_without_answers_is_left_out(tmp_path: Path) -> None:
    assert read_page(_xml(tmp_path, "empty.xml", EMPTY)) is None


def test_the_html_parses_back_to_the_page_with_sections_by_question_type(tmp_path: Path) -> None:
    page = read_page(_xml(tmp_path, "0000042.xml", PAGE))
    assert page is not None
    [path] = write_pages([page], tmp_path / "html")
    document = parse_html(path)
    assert document.metadata.document_id == page.document_id
    assert document.metadata.title == page.focus
    assert document.metadata.issuer == "NHLBI"
    assert document.metadata.url == page.url
    paths = [section.path for section in document.sections]
    assert paths == [
        (page.focus,),
        (page.focus, "Information"),
        (page.focus, "Exams and tests"),
    ]
    assert document.sections[0].blocks == (f"Source: {page.url}",)
    for pair, section in zip(page.pairs, document.sections[1:], strict=True):
        assert normalise(" ".join(section.blocks)) == normalise(pair.answer)
        assert pair.question not in " ".join(section.blocks)
    assert "&lt;and fills&gt;" in page_html(page)


def test_the_question_headed_html_heads_each_answer_by_its_question(tmp_path: Path) -> None:
    page = read_page(_xml(tmp_path, "0000042.xml", PAGE))
    assert page is not None
    by_type = parse_html(write_pages([page], tmp_path / "type")[0])
    [path] = write_pages([page], tmp_path / "question", "question")
    document = parse_html(path)
    assert [section.path for section in document.sections] == [
        (page.focus,),
        (page.focus, "What is (are) Heart & Lung ?"),
        (page.focus, "How to diagnose Heart & Lung ?"),
    ]
    # Only the headings differ: the same lead and the same answers, block for block.
    assert [s.blocks for s in document.sections] == [s.blocks for s in by_type.sections]
    assert "<h2>How to diagnose Heart &amp; Lung ?</h2>" in page_html(page, "question")


def test_the_set_is_skipped_with_a_message_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DIR_VARIABLE, raising=False)
    assert medquad_dir() == DEFAULT_DIR
    monkeypatch.setenv(DIR_VARIABLE, str(tmp_path))
    assert medquad_dir() == tmp_path
    reason = missing_reason(tmp_path)
    assert reason is not None
    assert DIR_VARIABLE in reason and str(tmp_path) in reason and SUBSETS[0] in reason
    for subset in SUBSETS:
        (tmp_path / subset).mkdir()
    assert missing_reason(tmp_path) is None


def test_a_small_medquad_set_is_judged_by_shared_text(tmp_path: Path) -> None:
    source = tmp_path / "medquad"
    _xml(source / SUBSETS[0], "0000001.xml", PAGE.replace('source="NHLBI"', 'source="NIDDK"'))
    _xml(source / SUBSETS[1], "0000042.xml", PAGE)
    _xml(source / SUBSETS[1], "0000043.xml", EMPTY)
    assert len(load_pages(source)) == 2
    labelled = medquad_set(source, tmp_path / "scratch")
    assert [query.id for query in labelled.queries] == [
        "niddk-0000042-1",
        "niddk-0000042-3",
        "nhlbi-0000042-1",
        "nhlbi-0000042-3",
    ]
    keys = {chunk.key for chunk in labelled.chunks}
    # No chunk of title and Source line alone: the Source line opens the first answer's chunk.
    assert len(keys) == 4
    assert all(
        chunk.text.startswith("Source: ") == (chunk.key[1] == 0) for chunk in labelled.chunks
    )
    # Both pages hold the same answers, so each answer's chunk on both pages is relevant.
    for query, position in zip(labelled.queries, [0, 1, 0, 1], strict=True):
        assert query.relevant == {
            ("medquad-niddk-0000042", position),
            ("medquad-nhlbi-0000042", position),
        }


def test_both_medquad_sets_judge_the_same_questions_by_the_answers_text(tmp_path: Path) -> None:
    source = tmp_path / "medquad"
    _xml(source / SUBSETS[0], "0000001.xml", PAGE.replace('source="NHLBI"', 'source="NIDDK"'))
    _xml(source / SUBSETS[1], "0000042.xml", PAGE)
    sets = {by: medquad_set(source, tmp_path / by, by) for by in HEADED_BY}
    assert {by: labelled.name for by, labelled in sets.items()} == MEDQUAD_SETS
    assert MEDQUAD_SETS["type"] == "medquad"
    by_type, by_question = sets["type"], sets["question"]
    assert [q.id for q in by_question.queries] == [q.id for q in by_type.queries]
    assert [q.relevant for q in by_question.queries] == [q.relevant for q in by_type.queries]
    assert [c.text for c in by_question.chunks] == [c.text for c in by_type.chunks]
    # Each answer's chunk sits under its own question (its context line), not under its type.
    headings = [chunk.section_path[1] for chunk in by_question.chunks]
    questions = [query.text for query in by_question.queries]
    assert headings == questions
    types = ["Information", "Exams and tests"] * 2
    assert [chunk.section_path[1] for chunk in by_type.chunks] == types
