"""The report: the terminal table, the JSON and the PNG, from a results document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval.retrieval.report import PNG_NAME, git_commit, machine, plot, table, write_json

SCORES = {
    "recall_at_1": 0.5,
    "recall_at_5": 0.75,
    "recall_at_10": 1.0,
    "mrr_at_10": 0.625,
    "ndcg_at_10": 0.7,
}


def _mode(latency: dict[str, Any], kinds: bool) -> dict[str, Any]:
    mode: dict[str, Any] = {"questions": 4, "scores": SCORES, "latency": latency}
    if kinds:
        mode["by_kind"] = {
            "paraphrased": {"questions": 2, **SCORES},
            "paraphrased: brand": {"questions": 1, **SCORES},
            "plain": {"questions": 2, **SCORES},
        }
    mode["queries_with_synonyms"] = 1
    mode["misses_at_10"] = [{"id": "q1", "question": "?", "expected": [], "got": []}]
    return mode


def _results() -> dict[str, Any]:
    timed = {"round_trip": {"queries": 4, "p50_ms": 12.5, "p95_ms": 30.0}}
    quick = {"round_trip": {"queries": 4, "p50_ms": 0.4, "p95_ms": 0.9}}
    return {
        "commit": "abc1234",
        "machine": machine(),
        "load_average_before": [1.0, 0.5, 0.25],
        "sets": {
            "medquad": {"skipped": "MedQuAD set skipped: not found"},
            "guidelines": {
                "questions": 4,
                "documents": 2,
                "chunks": 9,
                "synonyms": "synonyms.yaml",
                "modes": {
                    "dense": _mode(timed, kinds=True),
                    "sparse": _mode(quick, kinds=True),
                    "sparse (no synonyms)": _mode(quick, kinds=True),
                },
            },
        },
    }


def test_the_table_shows_every_mode_its_latency_and_the_kinds() -> None:
    results = _results()
    text = table("guidelines", results["sets"]["guidelines"])
    row = "dense" + " " * 21 + "0.500    0.750    1.000    0.625    0.700   12.5 / 30.0         1"
    assert row in text
    assert "sparse (no synonyms)" in text and "0.4 / 0.9" in text
    assert "paraphrased: brand" in text and "n=1" in text
    assert table("medquad", results["sets"]["medquad"]) == "medquad: MedQuAD set skipped: not found"


def test_json_and_png_are_written(tmp_path: Path) -> None:
    results = _results()
    path = write_json(results, tmp_path)
    assert json.loads(path.read_text(encoding="utf-8")) == results
    picture = plot(results, tmp_path)
    assert picture == tmp_path / PNG_NAME
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_commit_is_named() -> None:
    commit = git_commit()
    assert commit == "unknown" or len(commit.removesuffix("+changes")) >= 7
