"""`make eval-briefings`: brief every synthetic patient through the real stack and score it.

    python -m eval.briefings                      # all 24 patients; JSON and PNG in bench/results
    python -m eval.briefings pt-0001 pt-0019      # some of them

The offline agent always; the Claude agent too when ANTHROPIC_API_KEY is set (the services
inherit it, and ANTHROPIC_BASE_URL with it). Prints a table per agent mode and exits 1 when a
Brief failed; the targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from eval.briefings.findings import EXPECTED_FINDINGS, PATIENTS_DIR, load_findings
from eval.briefings.harness import (
    ModeRun,
    brief_patients,
    evaluation_stack,
    load_runs,
    save_runs,
)
from eval.briefings.patient import load_facts
from eval.briefings.report import ROOT, commit, machine, patient_result, plot, summary, table
from eval.briefings.scoring import score
from eval.briefings.statements import from_proto
from eval.briefings.support import measure
from services.launcher import run_program
from services.retriever.ingest.parsers import PARSERS

RESULTS = ROOT / "bench" / "results"
CORPUS = ROOT / "data" / "guidelines"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m eval.briefings")
    parser.add_argument("patient_ids", nargs="*", help="default: every patient with findings")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--patients", type=Path, default=PATIENTS_DIR)
    parser.add_argument("--findings", type=Path, default=EXPECTED_FINDINGS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--save-briefings", type=Path, help="also write the briefings themselves to this file"
    )
    parser.add_argument(
        "--rescore", type=Path, help="score briefings saved by --save-briefings (no stack)"
    )
    parser.add_argument(
        "--no-support",
        action="store_true",
        help="skip measuring the grounding threshold against wrong pairs (loads the model)",
    )
    return parser.parse_args(argv)


def agent_modes() -> list[str]:
    return ["offline", "claude"] if os.environ.get("ANTHROPIC_API_KEY") else ["offline"]


async def brief(
    patient_ids: Sequence[str],
    *,
    corpus: Sequence[Path],
    patients: Path = PATIENTS_DIR,
    modes: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> list[ModeRun]:
    """Every patient's briefing in each mode, from a stack of its own."""
    with tempfile.TemporaryDirectory(prefix="eval-briefings-") as tmp:
        async with evaluation_stack(Path(tmp), patients, corpus, env) as orchestrator:
            return await brief_patients(orchestrator, patient_ids, modes or agent_modes())


def results(
    runs: Sequence[ModeRun],
    patient_ids: Sequence[str],
    *,
    patients: Path = PATIENTS_DIR,
    findings_path: Path = EXPECTED_FINDINGS,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The scores of every run; what the JSON holds."""
    findings = load_findings(findings_path)
    facts = {pid: load_facts(patients / f"{pid}.json", date.today()) for pid in patient_ids}
    result: dict[str, Any] = {
        "evaluation": "briefings",
        "machine": machine(),
        "commit": commit(),
        "config": {"patients": list(patient_ids), "findings": str(findings_path), **(config or {})},
        "modes": {},
    }
    for run in runs:
        scores = [
            score(from_proto(run.briefings[pid]), findings[pid], facts[pid])
            for pid in patient_ids
            if pid in run.briefings
        ]
        totals = summary(scores, {p: e for p, e in run.errors.items() if p in patient_ids})
        result["modes"][run.mode] = {
            "summary": totals,
            "patients": {s.patient_id: patient_result(s, findings[s.patient_id]) for s in scores},
            "tables": table(run.mode, scores, totals),
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    known = sorted(load_findings(args.findings))
    unknown = sorted(set(args.patient_ids) - set(known))
    if unknown:
        print(f"no expected findings for {', '.join(unknown)}", file=sys.stderr)
        return 2
    patient_ids = args.patient_ids or known
    # The documents of the folder: it also holds the synonym file, which is no document.
    corpus = sorted(p for p in args.corpus.iterdir() if p.is_file() and p.suffix.lower() in PARSERS)
    if args.rescore:
        runs = load_runs(args.rescore)
    else:
        runs = run_program(brief(patient_ids, corpus=corpus, patients=args.patients))
        if args.save_briefings:
            save_runs(runs, args.save_briefings)
    result = results(
        runs,
        patient_ids,
        patients=args.patients,
        findings_path=args.findings,
        config={
            "corpus": [p.name for p in corpus],
            **({"rescored_from": str(args.rescore)} if args.rescore else {}),
        },
    )
    if not args.no_support:
        for run in runs:
            result["modes"][run.mode]["support"] = measure(
                {pid: b for pid, b in run.briefings.items() if pid in patient_ids}
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "briefings.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    plot(result, args.out / "briefings.png")
    for run in result["modes"].values():
        print(run["tables"], end="\n\n")
    failed = any(run["summary"]["failed_briefs"] for run in result["modes"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
