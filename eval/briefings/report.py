"""The evaluation's results: totals per agent mode against the targets, a table per mode, the
JSON and the PNG (both naming the machine and the commit they were measured on)."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

from eval.briefings.findings import PatientFindings
from eval.briefings.scoring import PatientScore

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]
# Targets for the offline agent on the 24 patients (issue 18).
TARGET_RECALL = 0.9
TARGET_PRECISION = 0.95
TARGET_NOT_TAKEN = 0


def machine() -> dict[str, Any]:
    return {
        "name": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def commit() -> dict[str, Any]:
    """The checked-out commit, and whether tracked files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "sha": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def distribution(values: Sequence[float], threshold: float | None = None) -> dict[str, Any]:
    """Count, percentiles (nearest rank) and, given a threshold, the share below it."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    shown: dict[str, Any] = {"n": len(ordered), "min": round(ordered[0], 4)}
    shown |= {f"p{round(q * 100):02d}": rank(q) for q in (0.05, 0.1, 0.5, 0.9, 0.95)}
    shown["max"] = round(ordered[-1], 4)
    if threshold is not None:
        shown["below_threshold"] = round(sum(v < threshold for v in ordered) / len(ordered), 4)
    return shown


def summary(scores: Sequence[PatientScore], errors: dict[str, str]) -> dict[str, Any]:
    """Totals over the patients (each ratio over all findings or recommendations pooled)."""
    expected = sum(s.expected for s in scores)
    found = sum(len(s.found) for s in scores)
    recommendations = sum(len(s.recommendations) for s in scores)
    fitting = sum(s.fitting for s in scores)
    grounded = sum(s.grounded for s in scores)
    passing = sum(s.passing_check for s in scores)
    flags = [f.split(":")[0] for s in scores for v in s.recommendations for f in v.grounding_flags]
    similarities = [
        v.support_similarity
        for s in scores
        for v in s.recommendations
        if v.support_similarity is not None
    ]
    not_taken = sum(s.not_taken_recommendations for s in scores)
    recall, precision = _ratio(found, expected), _ratio(fitting, recommendations)
    return {
        "patients": len(scores),
        "failed_briefs": errors,
        "expected_findings": expected,
        "found": found,
        "recall": recall,
        "recommendations": recommendations,
        "fitting_recommendations": fitting,
        "precision": precision,
        "forbidden_statements": sum(len(s.forbidden) for s in scores),
        "not_taken_drug_recommendations": not_taken,
        "grounded_recommendations": grounded,
        "grounded_share": _ratio(grounded, recommendations),
        "grounding_check_passed": passing,
        "grounding_check_share": _ratio(passing, recommendations),
        "grounding_flags": {kind: flags.count(kind) for kind in sorted(set(flags))},
        "support_similarity": distribution(similarities),
        "targets": {
            "recall": {"target": TARGET_RECALL, "met": recall >= TARGET_RECALL and not errors},
            "precision": {"target": TARGET_PRECISION, "met": precision >= TARGET_PRECISION},
            "not_taken_drug_recommendations": {
                "target": TARGET_NOT_TAKEN,
                "met": not_taken <= TARGET_NOT_TAKEN,
            },
        },
    }


def patient_result(score: PatientScore, findings: PatientFindings) -> dict[str, Any]:
    notes = {e.key: e.note for e in findings.expected}
    return {
        "recall": round(score.recall, 4),
        "precision": round(score.precision, 4),
        "found": score.found,
        "missed": [{"key": key, "note": notes[key]} for key in score.missed],
        "recommendations": [{**asdict(v), "grounded": v.grounded} for v in score.recommendations],
        "forbidden": [asdict(hit) for hit in score.forbidden],
        "not_taken": [asdict(hit) for hit in score.not_taken],
        "not_taken_recommendations": score.not_taken_recommendations,
    }


def table(mode: str, scores: Sequence[PatientScore], totals: dict[str, Any]) -> str:
    """A Markdown table of one mode: a row per patient and the totals against the targets."""
    lines = [
        f"### {mode} agent",
        "",
        "| patient | recall | precision | forbidden | not taken | grounded | check passed "
        "| missed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        cells = [
            s.patient_id,
            f"{len(s.found)}/{s.expected}",
            f"{s.fitting}/{len(s.recommendations)}",
            str(len(s.forbidden)),
            str(s.not_taken_recommendations),
            f"{s.grounded}/{len(s.recommendations)}",
            f"{s.passing_check}/{len(s.recommendations)}",
            ", ".join(s.missed),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for patient_id, code in sorted(totals["failed_briefs"].items()):
        lines.append(f"| {patient_id} | Brief failed: {code} | | | | | | |")
    targets = totals["targets"]
    lines.append(
        f"| **all** | **{totals['recall']:.2f}** (≥{targets['recall']['target']}) "
        f"| **{totals['precision']:.2f}** (≥{targets['precision']['target']}) "
        f"| **{totals['forbidden_statements']}** "
        f"| **{totals['not_taken_drug_recommendations']}** (={TARGET_NOT_TAKEN}) "
        f"| **{totals['grounded_share']:.2f}** | **{totals['grounding_check_share']:.2f}** | |"
    )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Per mode, each patient's recall and precision, and their forbidden statements."""
    modes = result["modes"]
    fig, axes = plt.subplots(len(modes), 1, figsize=(15, 4.2 * len(modes)), squeeze=False)
    for ax, (mode, run) in zip(axes[:, 0], modes.items(), strict=True):
        ids = sorted(run["patients"])
        xs = range(len(ids))
        recall = [run["patients"][p]["recall"] for p in ids]
        precision = [run["patients"][p]["precision"] for p in ids]
        ax.bar([x - 0.2 for x in xs], recall, 0.4, label="recall of expected findings")
        ax.bar([x + 0.2 for x in xs], precision, 0.4, label="precision of recommendations")
        for x, p in zip(xs, ids, strict=True):
            bad = (
                len(run["patients"][p]["forbidden"])
                + run["patients"][p]["not_taken_recommendations"]
            )
            if bad:
                ax.annotate(f"✗{bad}", (x, 1.04), ha="center", color="tab:red", fontsize=8)
        ax.axhline(TARGET_RECALL, color="tab:blue", linestyle=":", linewidth=1)
        ax.axhline(TARGET_PRECISION, color="tab:orange", linestyle=":", linewidth=1)
        ax.set_xticks(list(xs), [p.removeprefix("pt-") for p in ids], fontsize=8)
        ax.set_ylim(0, 1.3)
        ax.set_xlabel("patient (✗n: forbidden statements and advice about drugs not taken)")
        totals = run["summary"]
        ax.set_title(
            f"{mode} agent: recall {totals['recall']:.2f} (target {TARGET_RECALL}), precision "
            f"{totals['precision']:.2f} (target {TARGET_PRECISION}), not-taken-drug advice "
            f"{totals['not_taken_drug_recommendations']} (target 0), grounded "
            f"{totals['grounded_share']:.2f}, grounding check passed "
            f"{totals['grounding_check_share']:.2f}"
        )
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    where = result["machine"]
    sha = result["commit"]["sha"][:10] + ("+dirty" if result["commit"]["dirty"] else "")
    fig.suptitle(
        f"Briefing evaluation on {where['name']} ({where['cpus']} CPUs, Python "
        f"{where['python']}), commit {sha}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
