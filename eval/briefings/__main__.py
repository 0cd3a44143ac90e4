"""`make eval-briefings`: brief every synthetic patient through the real stack and score it.

    python -m eval.briefings                      # all 24 patients; JSON and PNG in bench/results
    python -m eval.briefings pt-0001 pt-0019      # some of them

The offline agent always; the Claude agent too when ANTHROPIC_API_KEY is set (the services
inherit it, and ANTHROPIC_BASE_URL with it). Prints a table per agent mode and exits 1 when a
Brief failed; the targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from eval.briefings.findings import EXPECTED_FINDINGS, PATIENTS_DIR, load_findings
from eval.briefings.harness import brief_patients, evaluation_stack
from eval.briefings.patient import load_facts
from eval.briefings.report import ROOT, commit, machine, patient_result, plot, summary, table
from eval.briefings.scoring import score
from eval.briefings.statements import from_proto

RESULTS = ROOT / "bench" / "results"
CORPUS = ROOT / "data" / "guidelines"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m eval.briefings")
    parser.add_argument("patient_ids", nargs="*", help="default: every patient with findings")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--patients", type=Path, default=PATIENTS_DIR)
    parser.add_argument("--findings", type=Path, default=EXPECTED_FINDINGS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def agent_modes() -> list[str]:
    return ["offline", "claude"] if os.environ.get("ANTHROPIC_API_KEY") else ["offline"]


async def evaluate(
    patient_ids: Sequence[str],
    *,
    corpus: Sequence[Path],
    patients: Path = PATIENTS_DIR,
    findings_path: Path = EXPECTED_FINDINGS,
    modes: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Briefs and scores the patients in each mode; the result is what the JSON holds."""
    findings = load_findings(findings_path)
    facts = {pid: load_facts(patients / f"{pid}.json", date.today()) for pid in patient_ids}
    modes = list(modes or agent_modes())
    with tempfile.TemporaryDirectory(prefix="eval-briefings-") as tmp:
        async with evaluation_stack(Path(tmp), patients, corpus, env) as orchestrator:
            runs = await brief_patients(orchestrator, patient_ids, modes)
    result: dict[str, Any] = {
        "evaluation": "briefings",
        "machine": machine(),
        "commit": commit(),
        "config": {
            "patients": list(patient_ids),
            "corpus": sorted(p.name for p in corpus),
            "findings": str(findings_path),
        },
        "modes": {},
    }
    for run in runs:
        scores = [
            score(from_proto(run.briefings[pid]), findings[pid], facts[pid])
            for pid in patient_ids
            if pid in run.briefings
        ]
        result["modes"][run.mode] = {
            "summary": summary(scores, run.errors),
            "patients": {s.patient_id: patient_result(s, findings[s.patient_id]) for s in scores},
            "tables": table(run.mode, scores, summary(scores, run.errors)),
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    known = sorted(load_findings(args.findings))
    unknown = sorted(set(args.patient_ids) - set(known))
    if unknown:
        print(f"no expected findings for {', '.join(unknown)}", file=sys.stderr)
        return 2
    corpus = sorted(p for p in args.corpus.iterdir() if p.is_file())
    result = asyncio.run(
        evaluate(
            args.patient_ids or known,
            corpus=corpus,
            patients=args.patients,
            findings_path=args.findings,
        )
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
