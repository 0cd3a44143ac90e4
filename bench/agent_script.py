"""The benchmark's scripted Claude: what the Messages API stand-in answers each request.

Three turns of searches (3, 2 and 3 of them) built from the patient's record, then the
briefing, also whenever the orchestrator forces it, citing sources the searches returned.
"""

from __future__ import annotations

import json

from tests.support.anthropic_standin import JSON, searching_conversation


def _record_of(body: JSON) -> JSON:
    opening = body["messages"][0]["content"][0]["text"]
    inner = opening.split("<patient_record>")[1].split("</patient_record>")[0]
    record: JSON = json.loads(inner)
    return record


def _queries(record: JSON) -> list[list[str]]:
    """Three turns of searches (3, 2, 3) about this patient's problems, drugs and labs."""
    problems = [p["name"] for p in record["active_problems"]] or ["chronic disease"]
    drugs = [m["name"] for m in record["active_medications"]] or ["polypharmacy"]
    egfr = next((lab["value"] for lab in record["labs"] if lab["test"] == "egfr"), "unknown")
    return [
        [
            f"{problems[0]} treatment targets",
            f"{drugs[0]} dosing at eGFR {egfr}",
            f"{problems[-1]} first-line therapy",
        ],
        [f"{drugs[-1]} safety monitoring", f"{problems[0]} with kidney disease"],
        [
            f"{drugs[0]} and {drugs[-1]} interaction",
            "eGFR decline monitoring frequency",
            f"{problems[-1]} follow-up interval",
        ],
    ]


# Three turns of searches, then the briefing (also whenever it is forced).
respond = searching_conversation(lambda body: _queries(_record_of(body)), max_results=5)
