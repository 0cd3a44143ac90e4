"""Ranking metrics, the way MedRAG and BEIR score retrieval.

A question's ranking is judged hit by hit: ``flags[i]`` says whether the hit at rank ``i + 1`` is
relevant. Each question has one relevant passage (a MedQuAD answer, or a guideline section),
which may span several chunks, so:

- Recall@k is 1 when any relevant chunk is among the first k hits, else 0 (the passage was found
  or not; with one relevant passage, recall and success are the same number);
- MRR@10 is the reciprocal rank of the first relevant hit within the first 10, else 0;
- nDCG@10 has binary gains over the chunks, its ideal ranking putting all ``total_relevant``
  relevant chunks first, so it also rewards finding more of a passage that spans several chunks.

Each is averaged over the questions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

DEPTH = 10
RECALL_DEPTHS = (1, 5, 10)


def recall_at(flags: Sequence[bool], k: int) -> float:
    """1.0 when a relevant hit is among the first ``k``, else 0.0."""
    return 1.0 if any(flags[:k]) else 0.0


def reciprocal_rank(flags: Sequence[bool], k: int = DEPTH) -> float:
    """1 / rank of the first relevant hit within the first ``k``; 0.0 when there is none."""
    for rank, relevant in enumerate(flags[:k], start=1):
        if relevant:
            return 1.0 / rank
    return 0.0


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def ndcg_at(flags: Sequence[bool], total_relevant: int, k: int = DEPTH) -> float:
    """Normalised discounted cumulative gain of the first ``k`` hits, binary gains.

    ``total_relevant`` is how many relevant chunks the collection holds for the question; the
    ideal ranking has ``min(total_relevant, k)`` of them first.
    """
    found = sum(flags[:k])
    if found > total_relevant:
        raise ValueError(f"{found} relevant hits but only {total_relevant} relevant chunks")
    ideal = sum(_discount(rank) for rank in range(1, min(total_relevant, k) + 1))
    if ideal == 0.0:
        return 0.0
    gained = sum(_discount(rank) for rank, hit in enumerate(flags[:k], start=1) if hit)
    return gained / ideal


@dataclass(frozen=True)
class Scores:
    """The metrics of one question, or their means over many."""

    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    ndcg_at_10: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score(flags: Sequence[bool], total_relevant: int) -> Scores:
    """All metrics of one question's ranking."""
    recall_1, recall_5, recall_10 = (recall_at(flags, k) for k in RECALL_DEPTHS)
    return Scores(
        recall_at_1=recall_1,
        recall_at_5=recall_5,
        recall_at_10=recall_10,
        mrr_at_10=reciprocal_rank(flags, DEPTH),
        ndcg_at_10=ndcg_at(flags, total_relevant, DEPTH),
    )


def mean_scores(scores: Iterable[Scores]) -> Scores:
    """The mean of each metric over the questions (all zero when there are none)."""
    rows = [s.as_dict() for s in scores]
    if not rows:
        return Scores(0.0, 0.0, 0.0, 0.0, 0.0)
    return Scores(**{name: statistics.fmean(row[name] for row in rows) for name in rows[0]})


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """How many queries, their median and their 95th percentile (inclusive method)."""
    if not milliseconds:
        return {"queries": 0, "p50_ms": 0.0, "p95_ms": 0.0}
    values = list(milliseconds)
    p95 = (
        statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    )
    return {"queries": len(values), "p50_ms": statistics.median(values), "p95_ms": p95}
