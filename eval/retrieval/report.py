"""The evaluation's outputs: a table on the terminal, JSON and a PNG in ``bench/results/``.

The PNG's title names the machine and the git commit the run measured.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import textwrap
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
    timed = mode.get("latency", {}).get("round_trip")
    if not timed:
        return "-"
    return f"{timed['p50_ms']:.1f} / {timed['p95_ms']:.1f}"


def table(name: str, result: dict[str, Any]) -> str:
    """One set's metrics per mode, and by question kind when there are several."""
    if "skipped" in result:
        return f"{name}: {result['skipped']}"
    lines = [
        f"{name}: {result['questions']} questions, {result['documents']} documents, "
        f"{result['chunks']} chunks",
        f"  {'mode':<22}" + "".join(f"{h:>9}" for h in HEADERS) + "   p50 / p95 ms   misses",
    ]
    for mode, values in result["modes"].items():
        cells = "".join(f"{values['scores'][m]:>9.3f}" for m in METRICS)
        misses = len(values["misses_at_10"])
        lines.append(f"  {mode:<22}{cells}   {_latency_cell(values):<14} {misses:>6}")
    kinds = [
        (mode, values["by_kind"]) for mode, values in result["modes"].items() if "by_kind" in values
    ]
    for mode, by_kind in kinds:
        lines.append(f"  {mode} by kind:")
        for group, values in by_kind.items():
            cells = "".join(f"{values[m]:>9.3f}" for m in METRICS)
            lines.append(f"    {group:<32} n={values['questions']:<4}{cells}")
    return "\n".join(lines)


def write_json(results: dict[str, Any], folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JSON_NAME
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


Series = dict[str, dict[str, float]]
"""Bars to draw: value by label, per mode."""


def _kind_label(group: str) -> str:
    return group.removeprefix("paraphrased: ")


def _panels(results: dict[str, Any]) -> list[tuple[str, Series]]:
    ran = {name: r for name, r in results["sets"].items() if "skipped" not in r}
    panels = [
        (
            f"{name}: {r['questions']} questions, {r['chunks']} chunks",
            {
                mode: {
                    header: values["scores"][m] for m, header in zip(METRICS, HEADERS, strict=True)
                }
                for mode, values in r["modes"].items()
            },
        )
        for name, r in ran.items()
    ]
    if "guidelines" in ran:
        panels.append(
            (
                "guidelines: MRR@10 by question kind",
                {
                    mode: {
                        _kind_label(group): v["mrr_at_10"]
                        for group, v in sorted(
                            values.get("by_kind", {}).items(), key=lambda item: item[0] != "plain"
                        )
                    }
                    for mode, values in ran["guidelines"]["modes"].items()
                },
            )
        )
    return panels


def _latencies(results: dict[str, Any]) -> Series:
    series: Series = {"p50": {}, "p95": {}}
    for name, result in results["sets"].items():
        for mode, values in result.get("modes", {}).items():
            summary = values["latency"].get("round_trip")
            if summary:
                wrapped = textwrap.fill(name, 10, break_long_words=False)
                label = f"{wrapped}\n{mode.replace(' (', chr(10) + '(')}"
                series["p50"][label] = summary["p50_ms"]
                series["p95"][label] = summary["p95_ms"]
    return series


def _bars(axis: Any, series: Series, fmt: str) -> None:
    modes = list(series)
    labels = list(dict.fromkeys(label for values in series.values() for label in values))
    width = 0.8 / max(len(modes), 1)
    for index, mode in enumerate(modes):
        xs = [x + (index - (len(modes) - 1) / 2) * width for x in range(len(labels))]
        bars = axis.bar(xs, [series[mode].get(label, 0.0) for label in labels], width, label=mode)
        axis.bar_label(bars, fmt=fmt, fontsize=6, rotation=90, padding=2)
    axis.set_xticks(range(len(labels)), labels, fontsize=7)
    axis.legend(fontsize=7, loc="upper left", ncol=len(modes))


def plot(results: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Metrics per mode for each set, MRR@10 by question kind, and latency per query."""
    import matplotlib  # noqa: PLC0415 - only for the figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = _panels(results)
    columns = 2
    rows = len(panels) // columns + 1
    figure = plt.figure(figsize=(13, 4.6 * rows))
    grid = figure.add_gridspec(rows, columns)
    for index, (title, series) in enumerate(panels):
        axis = figure.add_subplot(grid[index // columns, index % columns])
        _bars(axis, series, "%.2f")
        axis.set_ylim(0, 1.3)
        axis.set_title(title, fontsize=9)
    # Latency has a bar pair per set and mode: it takes the rest of the last row, all of it when
    # it is alone there.
    latency_axis = figure.add_subplot(grid[rows - 1, len(panels) % columns :])
    _bars(latency_axis, _latencies(results), "%.1f")
    latency_axis.set_yscale("log")
    latency_axis.set_ylim(top=latency_axis.get_ylim()[1] * 5)
    latency_axis.set_ylabel("ms per query (log scale)")
    latency_axis.set_title("Latency per query, one caller (gRPC round trip)", fontsize=9)
    host = results["machine"]
    load = ", ".join(f"{value:.1f}" for value in results.get("load_average_before", []))
    figure.suptitle(
        f"Retrieval evaluation, commit {results['commit']}, {host['host']} ({host['cpus']} CPUs, "
        f"{host['platform']}, Python {host['python']}; load average at start {load})",
        fontsize=10,
    )
    figure.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PNG_NAME
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
