"""The 60-character relevance rule for MedQuAD hits."""

from __future__ import annotations

import random
import string

from eval.retrieval.relevance import RUN_CHARS, RunIndex, normalise, relevant_sets, shares_run


def test_normalise_folds_case_punctuation_and_spacing() -> None:
    assert normalise("  Blood-Pressure:\n130/80 mm Hg!  ") == "blood pressure 130 80 mm hg"
    assert normalise("ﬁbrate") == "fibrate"  # NFKC expands the ligature
    assert normalise("snake_case") == "snake case"


def _words(seed: int, count: int) -> str:
    rng = random.Random(seed)
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(count)
    )


ANSWER = _words(1, 60)


def test_a_run_of_exactly_sixty_characters_counts_and_fifty_nine_does_not() -> None:
    shared = ANSWER[100 : 100 + RUN_CHARS]
    assert len(shared) == 60
    # Digits never occur in the answer, so the shared run cannot grow past the slice.
    assert shares_run(f"0{shared}0", ANSWER)
    assert not shares_run(f"0{shared[:59]}0", ANSWER)


def test_normalisation_happens_before_matching() -> None:
    passage = "Intro. " + ANSWER[10:90].upper().replace(" ", " ,  ") + " -- end"
    index = RunIndex({"chunk": passage})
    assert index.relevant(ANSWER) == {"chunk"}


def test_a_short_answer_is_relevant_to_a_chunk_holding_all_of_it() -> None:
    short = "Yes, it is safe."
    index = RunIndex({"holds": "Context\nYes it is safe. More text.", "other": "It is safe."})
    assert index.relevant(short) == {"holds"}


def test_index_matches_a_brute_force_check_at_every_offset() -> None:
    chunks = {
        f"c{start}-{length}": f"{_words(2, 5)}0{ANSWER[start : start + length]}0{_words(3, 5)}"
        for start in range(0, 200, 7)
        for length in (58, 59, 60, 61, 75, 120)
    }
    chunks["unrelated"] = _words(4, 80)
    expected = {key for key, text in chunks.items() if shares_run(normalise(text), ANSWER)}
    assert RunIndex(chunks).relevant(ANSWER) == expected
    assert "unrelated" not in expected
    assert any(key.endswith("-60") for key in expected)
    assert not any(key.endswith("-58") for key in expected)


def test_relevant_sets_judges_each_answer_on_its_own() -> None:
    second = _words(5, 40)
    chunks = {"first": ANSWER[:300], "second": second[50:200], "both": ANSWER[-80:] + second[:80]}
    assert relevant_sets([ANSWER, second], chunks) == [{"first", "both"}, {"second", "both"}]
