"""Source fields made safe to show: control characters and escape sequences out, non-http(s)
URLs stored as absent, and the terminal briefing free of escape sequences whatever a source
holds."""

from __future__ import annotations

import pytest
from briefing.v1 import common_pb2, retriever_pb2
from briefing.v1 import orchestrator_pb2 as pb

from services.common.plaintext import plain_line
from services.orchestrator.client import render_briefing
from services.retriever.records import safe_url, stored_chunk

TERMINAL_ATTACK = "Guide\x1b[2J\x1b]0;owned\x07\x1b[31m red\x9b1m\r\nFake: line\u202eevil\x00"


def test_plain_line_removes_escapes_controls_and_overrides() -> None:
    assert plain_line(TERMINAL_ATTACK) == "Guide red1m Fake: lineevil"


def test_plain_line_keeps_ordinary_text() -> None:
    text = 'Diabetes in CKD — "KDIGO" <2022> & metformin, café, 糖尿病'
    assert plain_line(text) == text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//example.org/no-scheme",
        "/relative/path",
        "https://",
        "http://[::1",
    ],
)
def test_unsafe_urls_are_stored_as_absent(url: str) -> None:
    assert safe_url(url) == ""


@pytest.mark.parametrize(
    "url", ["https://kdigo.org/guidelines/diabetes-ckd/", "HTTP://example.org/a?b=c#d"]
)
def test_http_urls_are_kept(url: str) -> None:
    assert safe_url(url) == url


def test_a_stored_chunk_carries_clean_source_fields() -> None:
    chunk = stored_chunk(
        retriever_pb2.IngestChunk(
            source=common_pb2.Source(
                document_id="doc-1",
                title=TERMINAL_ATTACK,
                issuer="KDIGO\x07",
                url="javascript:alert(document.cookie)",
                section_path=["A\nB", "C"],
                topics=["ckd\x1b[0m"],
                guideline="Full\tname",
            ),
            text="Passage\nwith its own lines.",
            content_hash="h",
            chunk_count=1,
        )
    )
    assert chunk.title == "Guide red1m Fake: lineevil"
    assert (chunk.issuer, chunk.url, chunk.guideline) == ("KDIGO", "", "Full name")
    assert chunk.section_path == ("A B", "C")
    assert chunk.topics == ("ckd",)
    assert chunk.text == "Passage\nwith its own lines.", "a passage keeps its lines"


def test_the_terminal_briefing_prints_no_escape_sequences() -> None:
    briefing = pb.PatientBriefing(
        patient_id="pt-1",
        sources=[
            pb.CitedSource(
                source_id="S1",
                source=common_pb2.Source(
                    title=TERMINAL_ATTACK,
                    issuer="KDIGO\x1b[8m",
                    section_path=["Top", "Dose\x1b]8;;http://evil\x07s"],
                    url="https://example.org/\x1b[2Jx",
                ),
            )
        ],
    )
    rendered = render_briefing(briefing)
    assert "\x1b" not in rendered and "\x07" not in rendered and "\u202e" not in rendered
    assert "Guide red1m Fake: lineevil" in rendered
    assert "https://example.org/x" in rendered
