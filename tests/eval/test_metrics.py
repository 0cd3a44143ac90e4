"""The scoring functions on small rankings whose answers are worked out by hand."""

from __future__ import annotations

import math

import pytest

from eval.retrieval.metrics import (
    Scores,
    latency_summary,
    mean_scores,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    score,
)

# Relevant hits at ranks 3 and 5 of 6.
RANKING = [False, False, True, False, True, False]


def test_recall_is_whether_a_relevant_hit_is_within_k() -> None:
    assert [recall_at(RANKING, k) for k in (1, 2, 3, 5, 10)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert recall_at([], 10) == 0.0


def test_reciprocal_rank_is_one_over_the_first_relevant_rank_within_k() -> None:
    assert reciprocal_rank(RANKING) == pytest.approx(1 / 3)
    assert reciprocal_rank([True]) == 1.0
    assert reciprocal_rank(RANKING, k=2) == 0.0
    assert reciprocal_rank([False] * 10 + [True]) == 0.0  # rank 11 is past MRR@10


def test_ndcg_with_two_relevant_chunks_found_at_ranks_three_and_five() -> None:
    # DCG = 1/log2(4) + 1/log2(6); ideal with 2 relevant = 1/log2(2) + 1/log2(3).
    dcg = 0.5 + 1 / math.log2(6)
    ideal = 1.0 + 1 / math.log2(3)
    assert ndcg_at(RANKING, total_relevant=2) == pytest.approx(dcg / ideal)
    assert dcg / ideal == pytest.approx(0.5438, abs=1e-4)  # 0.8869 / 1.6309


def test_ndcg_counts_relevant_chunks_the_ranking_missed() -> None:
    # Only rank 1 found, but 3 chunks are relevant: 1 / (1 + 1/log2(3) + 1/log2(4)).
    expected = 1 / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at([True, False, False], total_relevant=3) == pytest.approx(expected)
    assert ndcg_at([True, True], total_relevant=2) == pytest.approx(1.0)
    assert ndcg_at([False, False], total_relevant=1) == 0.0


def test_ndcg_refuses_more_relevant_hits_than_relevant_chunks() -> None:
    with pytest.raises(ValueError, match="2 relevant hits but only 1"):
        ndcg_at([True, True], total_relevant=1)


def test_score_and_mean_over_questions() -> None:
    first = score([True, False], total_relevant=1)
    assert first == Scores(1.0, 1.0, 1.0, 1.0, 1.0)
    second = score(RANKING, total_relevant=2)
    assert second.recall_at_1 == 0.0 and second.recall_at_5 == 1.0
    mean = mean_scores([first, second, score([False] * 10, total_relevant=1)])
    assert mean.recall_at_1 == pytest.approx(1 / 3)
    assert mean.recall_at_10 == pytest.approx(2 / 3)
    assert mean.mrr_at_10 == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert mean_scores([]) == Scores(0.0, 0.0, 0.0, 0.0, 0.0)


def test_latency_summary() -> None:
    summary = latency_summary([float(v) for v in range(1, 21)])
    assert summary["queries"] == 20
    assert summary["p50_ms"] == pytest.approx(10.5)
    assert summary["p95_ms"] == pytest.approx(19.05)
    assert latency_summary([]) == {"queries": 0, "p50_ms": 0.0, "p95_ms": 0.0}
    assert latency_summary([4.0])["p95_ms"] == 4.0
