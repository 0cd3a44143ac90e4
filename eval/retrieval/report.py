"""The evaluation's outputs: a table on the terminal, JSON and a PNG in ``bench/results/``.

The PNG's title names the machine and the git commit the run measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
JSON_NAME = "retrieval_eval.json"
PNG_NAME = "retrieval_eval.png"
METRICS = ("recall_at_1", "recall_at_5", "recall_at_10", "mrr_at_10", "ndcg_at_10")
HEADERS = ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10")


def git_commit() -> str:
    """Short commit hash of the work tree, ``+changes`` when it has uncommitted changes;
    ``unknown`` outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if dirty else commit


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }


def _latency_cell(mode: dict[str, Any]) -> str:
    latency = mode.get("latency", {})
    timed = latency.get("round_trip") or latency.get("in_process")
    if not timed:
        return "-"
    where = "" if "round_trip" in latency else " (in process)"
    return f"{timed['p50_ms']:.1f} / {timed['p95_ms']:.1f}{where}"


def table(name: str, result: dict[str, Any]) -> str:
    """One set's metrics per mode, and by question kind when there are several."""
    if "skipped" in result:
        return f"{name}: {result['skipped']}"
    lines = [
        f"{name}: {result['questions']} questions, {result['documents']} documents, "
        f"{result['chunks']} chunks",
        f"  {'mode':<16}" + "".join(f"{h:>9}" for h in HEADERS) + "   p50 / p95 ms",
    ]
    for mode, values in result["modes"].items():
        cells = "".join(f"{values['scores'][m]:>9.3f}" for m in METRICS)
        lines.append(f"  {mode:<16}{cells}   {_latency_cell(values)}")
    if result["not_in_contract"]:
        lines.append(f"  not in the contract yet: {', '.join(result['not_in_contract'])}")
    kinds = [
        (mode, values["by_kind"]) for mode, values in result["modes"].items() if "by_kind" in values
    ]
    for mode, by_kind in kinds:
        lines.append(f"  {mode} by kind:")
        for group, values in by_kind.items():
            cells = "".join(f"{values[m]:>9.3f}" for m in METRICS)
            lines.append(f"    {group:<26} n={values['questions']:<4}{cells}")
    return "\n".join(lines)


def write_json(results: dict[str, Any], folder: Path = RESULTS) -> Path:
    import json  # noqa: PLC0415 - only here

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JSON_NAME
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def plot(results: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Bars of every metric per mode, one panel per set, plus the guideline set by kind."""
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ran = {name: r for name, r in results["sets"].items() if "skipped" not in r}
    panels: list[tuple[str, dict[str, dict[str, float]]]] = [
        (
            f"{name} ({r['questions']} questions, {r['chunks']} chunks)",
            {mode: v["scores"] for mode, v in r["modes"].items()},
        )
        for name, r in ran.items()
    ]
    guidelines = ran.get("guidelines")
    if guidelines:
        panels.append(
            (
                "guidelines: MRR@10 by question kind",
                {
                    mode: {group: v["mrr_at_10"] for group, v in values.get("by_kind", {}).items()}
                    for mode, values in guidelines["modes"].items()
                },
            )
        )
    figure, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for axis, (title, series) in zip(axes[0], panels, strict=True):
        modes = list(series)
        labels = list(next(iter(series.values()))) if series else []
        width = 0.8 / max(len(modes), 1)
        for index, mode in enumerate(modes):
            xs = [x + (index - (len(modes) - 1) / 2) * width for x in range(len(labels))]
            values = [series[mode].get(label, 0.0) for label in labels]
            bars = axis.bar(xs, values, width, label=mode)
            axis.bar_label(bars, fmt="%.2f", fontsize=6, rotation=90, padding=2)
        names = [dict(zip(METRICS, HEADERS, strict=True)).get(lb, lb) for lb in labels]
        axis.set_xticks(
            range(len(labels)), names, rotation=20 if len(labels) > 5 else 0, fontsize=8
        )
        axis.set_ylim(0, 1.12)
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7, loc="lower right")
    host = results["machine"]
    figure.suptitle(
        f"Retrieval evaluation, commit {results['commit']}, {host['host']} "
        f"({host['cpus']} CPUs, {host['platform']}, Python {host['python']})",
        fontsize=10,
    )
    figure.tight_layout()
    path = folder / PNG_NAME
    folder.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
