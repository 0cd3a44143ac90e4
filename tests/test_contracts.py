"""The generated code in gen/ matches the contracts in protos/ (run `make proto` when not)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.common import limits

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--mypy_grpc_out={tmp_path}",
            *protos,
        ],
        cwd=ROOT / "protos",
        check=True,
        env=env,
        capture_output=True,
    )
    fresh = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*.py*")}
    committed = {
        p.relative_to(ROOT / "gen"): p.read_text()
        for p in (ROOT / "gen").rglob("*.py*")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    assert fresh.keys() == committed.keys(), "gen/ lists other files than protos/ produces"
    stale = sorted(str(path) for path, text in fresh.items() if committed[path] != text)
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_generated_package_imports_without_path_edits() -> None:
    code = "from briefing.v1 import orchestrator_pb2_grpc, retriever_pb2_grpc, embedder_pb2_grpc"
    subprocess.run([sys.executable, "-c", code], cwd="/", check=True)


def field_comment(proto: str, message: str, field: str) -> str:
    """The comment lines right above ``field`` in ``message`` of ``protos/briefing/v1/<proto>``."""
    text = (ROOT / "protos" / "briefing" / "v1" / proto).read_text()
    body = text.split(f"message {message} {{", 1)[1].split("\n}", 1)[0]
    lines = body.splitlines()
    at = next(i for i, line in enumerate(lines) if re.search(rf"\b{field} = \d+;", line))
    comment: list[str] = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("//"):
            break
        comment.insert(0, line.strip().removeprefix("//").strip())
    return " ".join(comment)


@pytest.mark.parametrize(
    ("proto", "message", "field", "stated"),
    [
        ("orchestrator.proto", "BriefOptions", "max_turns", f"0 to {limits.MAX_AGENT_TURNS};"),
        (
            "orchestrator.proto",
            "BriefOptions",
            "max_results_per_search",
            f"0 to {limits.MAX_RESULTS_PER_SEARCH};",
        ),
        ("retriever.proto", "SearchRequest", "query", f"at most {limits.MAX_QUERY_CHARS:,} char"),
        (
            "retriever.proto",
            "SearchRequest",
            "limit",
            f"1 to {limits.MAX_SEARCH_LIMIT}; 0 means the server default "
            f"({limits.DEFAULT_SEARCH_LIMIT})",
        ),
        (
            "orchestrator.proto",
            "ListPatientsRequest",
            "page_size",
            f"0 to {limits.MAX_PATIENT_PAGE_SIZE}; 0 means the server default "
            f"({limits.DEFAULT_PATIENT_PAGE_SIZE})",
        ),
        (
            "embedder.proto",
            "EmbedRequest",
            "texts",
            f"at most {limits.MAX_EMBED_TEXT_CHARS:,} char",
        ),
        *[
            ("retriever.proto", "SearchFilter", field, f"at most {limits.MAX_FILTER_VALUES} values")
            for field in ("document_ids", "topics", "issuers")
        ],
        ("retriever.proto", "IngestChunk", "text", f"at most {limits.MAX_CHUNK_TEXT_CHARS:,} char"),
        (
            "retriever.proto",
            "IngestChunk",
            "context",
            f"at most {limits.MAX_CHUNK_CONTEXT_CHARS:,} char",
        ),
        (
            "retriever.proto",
            "IngestChunk",
            "chunk_count",
            f"1 to {limits.MAX_CHUNKS_PER_DOCUMENT:,}",
        ),
        ("retriever.proto", "IngestChunk", "content_hash", f"at most {limits.MAX_KEYWORD_CHARS} c"),
        ("common.proto", "Source", "document_id", f"at most {limits.MAX_KEYWORD_CHARS} char"),
        ("common.proto", "Source", "title", f"at most {limits.MAX_TITLE_CHARS} char"),
        ("common.proto", "Source", "issuer", f"at most {limits.MAX_KEYWORD_CHARS} char"),
        ("common.proto", "Source", "url", f"at most {limits.MAX_SOURCE_FIELD_CHARS:,} char"),
        ("common.proto", "Source", "guideline", f"at most {limits.MAX_SOURCE_FIELD_CHARS:,} char"),
        (
            "common.proto",
            "Source",
            "section_path",
            f"at most {limits.MAX_SOURCE_LIST_ITEMS} items, each at most "
            f"{limits.MAX_SOURCE_FIELD_CHARS:,} char",
        ),
        (
            "common.proto",
            "Source",
            "topics",
            f"at most {limits.MAX_SOURCE_LIST_ITEMS} items, each at most "
            f"{limits.MAX_KEYWORD_CHARS} char",
        ),
        (
            "orchestrator.proto",
            "ListPatientsRequest",
            "prefix",
            f"at most {limits.MAX_PATIENT_PREFIX_CHARS} characters",
        ),
    ],
)
def test_the_contracts_state_the_limits_the_code_enforces(
    proto: str, message: str, field: str, stated: str
) -> None:
    assert stated in field_comment(proto, message, field)
