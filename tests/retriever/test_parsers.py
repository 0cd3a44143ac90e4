"""Parsers for Markdown, text, HTML and PDF; preparation runs off the event loop."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.document import Document, DocumentError
from services.retriever.ingest.parsers import parse_file
from services.retriever.ingest.prepare import FailedFile, PreparedFile, prepare_files
from tests.retriever.conftest import GUIDELINES, ROOT

SOURCES = ROOT / "data" / "guidelines_src"


def test_html_carries_its_metadata_and_sections() -> None:
    document = parse_file(GUIDELINES / "kdigo-2024-ckd-anemia-mineral.html")
    meta = document.metadata
    assert meta.document_id == "kdigo-2024-ckd-anemia-mineral"
    assert meta.title.startswith("Managing CKD Complications")
    assert meta.issuer == "Kidney Disease Improving Global Outcomes (KDIGO)"
    assert meta.year == 2024
    assert meta.url.startswith("https://kdigo.org/")
    assert meta.topics == ("ckd",)
    assert meta.guideline.startswith("KDIGO 2024")
    source = parse_file(SOURCES / "kdigo-2024-ckd-anemia-mineral.md")
    assert meta == source.metadata
    assert [s.path for s in document.sections] == [s.path for s in source.sections]
    assert document.sections == source.sections


def test_pdf_carries_its_metadata_and_bookmarked_sections() -> None:
    document = parse_file(GUIDELINES / "aha-2021-chest-pain-cad-secondary-prevention.pdf")
    source = parse_file(SOURCES / "aha-2021-chest-pain-cad-secondary-prevention.md")
    assert document.metadata == source.metadata
    assert document.metadata.year == 2023
    assert "lipids" in document.metadata.topics
    assert [s.path for s in document.sections] == [s.path for s in source.sections]
    assert (
        "Chest Pain Evaluation and Secondary Prevention in Chronic Coronary Disease",
        "High-intensity statin and lipid targets",
        "Statin first",
    ) in [s.path for s in document.sections]
    # Same words as the source (bullets drawn as "•" in the PDF).
    for pdf_section, md_section in zip(document.sections, source.sections, strict=True):
        pdf_text = " ".join(pdf_section.blocks).replace("• ", "- ")
        assert pdf_text == " ".join(md_section.blocks)


def test_markdown_front_matter_and_heading_paths(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\nid: custom-id\ntitle: A Title\nissuer: Someone\nyear: 2020\n"
        "topics: [a, b]\n---\n# A Title\n\nIntro **bold** text.\n\n## Part\n\n### Sub\n\n"
        "- item one\n- item `two`\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n## Other\n\nEnd.\n",
        encoding="utf-8",
    )
    document = parse_file(path)
    assert document.metadata.document_id == "custom-id"
    assert document.metadata.topics == ("a", "b")
    assert [(s.path, s.blocks) for s in document.sections] == [
        (("A Title",), ("Intro bold text.",)),
        (("A Title", "Part", "Sub"), ("- item one", "- item two", "x | y", "1 | 2")),
        (("A Title", "Other"), ("End.",)),
    ]


def test_markdown_without_front_matter_uses_stem_and_heading(tmp_path: Path) -> None:
    path = tmp_path / "plain-note.md"
    path.write_text("Preface.\n\n# Heading One\n\nBody.\n", encoding="utf-8")
    document = parse_file(path)
    assert document.metadata.document_id == "plain-note"
    assert document.metadata.title == "Heading One"
    assert document.sections[0].path == ("Heading One",)


def test_text_file_title_is_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "memo.txt"
    path.write_text("Memo Title\nfirst paragraph\n\nsecond paragraph\n", encoding="utf-8")
    document = parse_file(path)
    assert document.metadata.title == "Memo Title"
    assert document.sections[0].blocks == ("first paragraph", "second paragraph")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.7\nthis is not really a pdf", "PDF"),
        ("bad-front.md", b"---\ntitle: [unclosed\n---\n# T\n", "YAML"),
        ("bad-year.md", b"---\ntitle: T\nyear: soon\n---\ntext\n", "year"),
        ("latin1.txt", "Titel\n\u00e4\u00f6\u00fc".encode("latin-1"), "UTF-8"),
        ("data.csv", b"a,b\n", "unsupported"),
    ],
)
def test_broken_files_raise_a_document_error(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=reason):
        parse_file(path)


async def test_parsing_runs_off_the_event_loop_thread(
    tmp_path: Path, chunker: Chunker, executor: ThreadPoolExecutor
) -> None:
    paths = [GUIDELINES / "kdigo-2024-ckd-anemia-mineral.html", tmp_path / "corrupt.pdf"]
    paths[1].write_bytes(b"%PDF-1.4 garbage")
    parser_threads: list[int] = []

    def recording_parser(path: Path) -> Document:
        parser_threads.append(threading.get_ident())
        return parse_file(path)

    results = [r async for r in prepare_files(paths, chunker, executor, recording_parser)]
    assert len(parser_threads) == 2
    assert threading.get_ident() not in parser_threads
    assert isinstance(results[0], PreparedFile)
    assert isinstance(results[1], FailedFile)
    assert results[1].path == paths[1]
    assert "PDF" in results[1].reason


async def test_a_second_file_with_the_same_document_id_fails(
    tmp_path: Path, chunker: Chunker, executor: ThreadPoolExecutor
) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text("---\nid: same\ntitle: A\n---\nText a.\n", encoding="utf-8")
    second.write_text("---\nid: same\ntitle: B\n---\nText b.\n", encoding="utf-8")
    results = [r async for r in prepare_files([first, second], chunker, executor)]
    assert isinstance(results[0], PreparedFile)
    assert isinstance(results[1], FailedFile)
    assert "also used by" in results[1].reason


def test_an_empty_top_heading_falls_back_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "af-rate-control.md"
    path.write_text(
        "#\n\nRate control first.\n\n## Beta blockers\n\nMetoprolol.\n", encoding="utf-8"
    )
    document = parse_file(path)
    assert document.metadata.document_id == "af-rate-control"
    assert document.metadata.title == "af-rate-control"
    assert [(s.path, s.blocks) for s in document.sections] == [
        (("af-rate-control",), ("Rate control first.",)),
        (("af-rate-control", "Beta blockers"), ("Metoprolol.",)),
    ]
