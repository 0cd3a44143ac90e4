"""``python -m eval.retrieval`` (``make eval``): the retrieval evaluation, end to end.

Starts an Embedder, then for each labelled set a Retriever with an empty store in a temporary
folder, ingests the set with the real ingestion CLI, searches every question through
``Retriever.Search`` in every mode (dense, sparse, hybrid; without synonyms too where the set
has them), and scores the rankings. MedQuAD is measured twice, its answers headed by their
question types (``medquad``) and by their questions (``medquad-question-headed``); both sets are
skipped, with a message, when its data is absent. Writes ``bench/results/retrieval_eval.{json,png}``
and prints a table. CPU-heavy: embedding MedQuAD's chunks takes minutes per set.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from eval.retrieval.engine import EvalError, running_embedder
from eval.retrieval.harness import CANDIDATES, COMPARED_FUSION, evaluate_set
from eval.retrieval.medquad import HEADED_BY, medquad_dir, missing_reason
from eval.retrieval.metrics import DEPTH
from eval.retrieval.relevance import RUN_CHARS
from eval.retrieval.report import git_commit, machine, plot, table, write_json
from eval.retrieval.sets import MEDQUAD_SETS, LabelledSet, guidelines_set, medquad_set
from services.common.config import ConfigError, load_settings
from services.launcher import run_program
from services.retriever.config import RetrieverSettings
from services.retriever.lexical import ANALYZER, HEADING_WEIGHT, K1, B
from services.retriever.store.layout import HYBRID_CANDIDATES, RRF_K


async def run() -> dict[str, Any]:
    """Every set through the engine; the results as the JSON document to write."""
    results: dict[str, Any] = {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            "candidates_per_search": CANDIDATES,
            "scored_depth": DEPTH,
            "lexical_analyzer": ANALYZER,
            "lexical_heading_weight": HEADING_WEIGHT,
            "lexical_bm25_k1": K1,
            "lexical_bm25_b": B,
            "hybrid_candidates_per_side": HYBRID_CANDIDATES,
            # What the Retriever started here fuses by (its default, unless the environment
            # says otherwise), and the fusion it is compared with.
            "hybrid_fusion": load_settings(RetrieverSettings).hybrid_fusion,
            "hybrid_fusion_compared": COMPARED_FUSION,
            "hybrid_rrf_k": RRF_K,
            "medquad_relevance_run_chars": RUN_CHARS,
        },
        "load_average_before": os.getloadavg(),
        "sets": {},
    }
    medquad = medquad_dir()
    skipped = missing_reason(medquad)
    with tempfile.TemporaryDirectory(prefix="eval-retrieval-") as scratch_name:
        scratch = Path(scratch_name)
        print("preparing the guideline set", flush=True)
        sets: list[LabelledSet] = [await asyncio.to_thread(guidelines_set)]
        for headed_by in HEADED_BY:
            name = MEDQUAD_SETS[headed_by]
            if skipped:
                print(f"{name}: {skipped}", flush=True)
                results["sets"][name] = {"skipped": skipped}
                continue
            print(f"preparing the {name} set from {medquad}", flush=True)
            sets.append(await asyncio.to_thread(medquad_set, medquad, scratch / name, headed_by))
        async with running_embedder() as embedder:
            for labelled in sets:
                result = await evaluate_set(labelled, embedder, scratch)
                results["sets"][labelled.name] = result
                print(table(labelled.name, result), flush=True)
    results["load_average_after"] = os.getloadavg()
    return results


def main() -> int:
    try:
        results = run_program(run())
    except (EvalError, ConfigError, ValueError) as exc:
        print(f"eval retrieval failed: {exc}", file=sys.stderr)
        return 1
    json_path, png_path = write_json(results), plot(results)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
