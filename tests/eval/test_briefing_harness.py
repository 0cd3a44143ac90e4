"""The evaluation end to end on the real stack (services as processes, embedded PostgreSQL and
Qdrant local mode in a temporary folder, a few guideline files ingested): the offline agent,
and the Claude path against the Messages API stand-in, which here only tests the scoring: its
scripted briefing states one expected finding, advises about a drug the patient does not take,
and invents a dose that no passage holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eval.briefings.__main__ import brief, results
from eval.briefings.report import plot, table
from eval.briefings.scoring import PatientScore
from tests.eval.briefing_support import GUIDELINES, PATIENTS
from tests.support.anthropic_standin import (
    JSON,
    MessagesStandIn,
    Reply,
    cited_ids,
    message,
    search,
    submit,
    turn_of,
)

API_KEY = "eval-test-key"
PATIENT_IDS = ("pt-0006", "pt-0019")
CORPUS = [
    GUIDELINES / "ehra-2021-doac-dosing-kidney.md",
    GUIDELINES / "ags-2023-beers-renal-dosing.md",
]
QUERY = "apixaban dose reduction 2.5 mg twice daily age 80 weight 60 kg creatinine 1.5"
RIGHT = "Reduce apixaban to 2.5 mg twice daily: age, weight and creatinine criteria are met."
NOT_TAKEN = "With eGFR 42, consider halving the MRA dose."
INVENTED = "Apixaban 3.75 mg twice daily is an alternative."


def claude(body: JSON) -> Reply:
    """One search, then a briefing citing the first passage it returned."""
    if turn_of(body) == 1:
        return message(search(QUERY, max_results=3))
    first = cited_ids(body)[:1]
    return message(
        submit(
            summary="Scripted briefing.",
            alerts=[
                {
                    "severity": "warning",
                    "message": "Apixaban 5 mg with age 84, weight 58 kg, creatinine 1.61 mg/dL.",
                    "source_ids": [],
                }
            ],
            recommendations=[
                {"text": text, "rationale": "Scripted.", "source_ids": first}
                for text in (RIGHT, NOT_TAKEN, INVENTED)
            ],
        )
    )


@pytest.fixture(scope="module")
async def result() -> AsyncIterator[dict[str, Any]]:
    async with MessagesStandIn(claude, api_key=API_KEY) as standin:
        runs = await brief(
            PATIENT_IDS,
            corpus=CORPUS,
            patients=PATIENTS,
            modes=["offline", "claude"],
            env={
                "ANTHROPIC_API_KEY": API_KEY,
                "ANTHROPIC_BASE_URL": standin.base_url,
                "CLAUDE_MAX_RETRIES": "1",
            },
        )
    yield results(runs, PATIENT_IDS, patients=PATIENTS)


async def test_every_patient_is_briefed_in_both_modes(result: dict[str, Any]) -> None:
    assert set(result["modes"]) == {"offline", "claude"}
    for run in result["modes"].values():
        assert run["summary"]["failed_briefs"] == {}
        assert sorted(run["patients"]) == list(PATIENT_IDS)
    assert result["commit"]["sha"] and result["machine"]["cpus"]


async def test_the_claude_briefing_is_scored_by_the_rules(result: dict[str, Any]) -> None:
    scored = result["modes"]["claude"]["patients"]["pt-0006"]
    assert scored["found"] == {
        "apixaban-criteria": "alert 1",
        "apixaban-reduce": "recommendation 1",
    }
    assert scored["recall"] == 1.0
    right, not_taken, invented = scored["recommendations"]
    assert right["fits_patient"] and not right["ungrounded"]
    assert not_taken["reasons"] == ["about mra, which the patient does not take"]
    assert invented["ungrounded"] == ["3.75 mg"]
    # The orchestrator's own grounding check agrees, and flags the MRA no passage names.
    assert "unsupported_number: 3.75 mg" in invented["grounding_flags"]
    assert "unsupported_drug: MRA" in not_taken["grounding_flags"]
    assert right["support_similarity"] is not None
    assert [hit["key"] for hit in scored["not_taken"]] == ["not-taken:mra"]
    # pt-0019 (the control case) gets the same script: reducing her dose is forbidden.
    control = result["modes"]["claude"]["patients"]["pt-0019"]
    assert [hit["key"] for hit in control["forbidden"]] == ["no-apixaban-reduction"]
    assert control["found"] == {}


async def test_the_totals_pool_the_patients(result: dict[str, Any]) -> None:
    claude_run = result["modes"]["claude"]
    totals = claude_run["summary"]
    assert totals["recommendations"] == 6
    # The MRA advice does not fit either patient. Fitting and forbidden are apart: reducing
    # pt-0019's apixaban is about her drug (so it fits) but forbidden; grounding is apart too.
    assert totals["fitting_recommendations"] == 4
    assert totals["precision"] == 0.6667
    assert totals["forbidden_statements"] == 1
    # No passage names an MRA, none holds 3.75 mg: only the right one is grounded, twice.
    assert totals["grounded_recommendations"] == 2
    assert totals["grounding_check_passed"] <= 4
    assert totals["grounding_check_share"] == round(totals["grounding_check_passed"] / 6, 4)
    assert totals["grounding_flags"]["unsupported_number"] >= 2
    assert totals["support_similarity"]["n"] == 6
    assert totals["not_taken_drug_recommendations"] == 2
    assert totals["targets"]["not_taken_drug_recommendations"]["met"] is False
    expected = totals["expected_findings"]
    assert totals["recall"] == round(totals["found"] / expected, 4)
    assert "| pt-0006 | 2/2 | 2/3 |" in claude_run["tables"]


async def test_the_offline_agent_raises_the_dose_alert(result: dict[str, Any]) -> None:
    offline = result["modes"]["offline"]["patients"]
    assert "apixaban-criteria" in offline["pt-0006"]["found"]
    assert offline["pt-0019"]["forbidden"] == []


async def test_the_plot_is_written(result: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "briefings.png"
    plot(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_brief_is_a_row_of_the_table() -> None:
    totals = {
        "failed_briefs": {"pt-0007": "DEADLINE_EXCEEDED"},
        "recall": 0.0,
        "precision": 1.0,
        "forbidden_statements": 0,
        "not_taken_drug_recommendations": 0,
        "grounded_share": 1.0,
        "grounding_check_share": 1.0,
        "targets": {"recall": {"target": 0.9}, "precision": {"target": 0.95}},
    }
    scores: list[PatientScore] = []
    assert "| pt-0007 | Brief failed: DEADLINE_EXCEEDED |" in table("claude", scores, totals)
