"""Which retrieved passages back a rule's action, so that the recommendation cites them.

A passage can back an action when its own section is addressed to the patient (its population
and its band: "Drugs to avoid in HFrEF", "Potassium above 5.0 to 5.5 mmol/L"), it names the
finding's subject (in its text or its own section headings), and one of its sentences is
addressed to the patient. Together the cited passages must state every number of the action and
name every drug of it the patient does not take (what the grounding check looks for); the fewest
passages that do are cited, best first, at most :data:`MAX_CITED`. When none do, the action is
not backed and is given without a citation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from services.orchestrator.agent.domain import RetrievedSource
from services.orchestrator.agent.drugs import mentions
from services.orchestrator.agent.extract import best_sentences, fit, mentions_any
from services.orchestrator.agent.patient_fit import PatientFit
from services.orchestrator.agent.rules import Finding

MAX_CITED = 3
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def numbers_in(text: str) -> set[float]:
    """Every number of a text, as a value ("1,000" and "1000" are one; "5.0" and "5" too)."""
    return {float(n.replace(",", "")) for n in _NUMBER.findall(text)}


def section_fits(source: RetrievedSource, fits: PatientFit, values: Mapping[str, float]) -> bool:
    """Whether the headings of a passage's own section address the patient: their population
    ("Drugs to avoid in HFrEF") and their band ("Potassium above 5.0 to 5.5 mmol/L")."""
    bounds = fit(" > ".join(source.section_path[1:]), values)
    return fits.section_fits(source.section_path) and not (bounds.excludes and not bounds.holds)


@dataclass(frozen=True)
class _Candidate:
    source: RetrievedSource
    score: float  # how well its best sentence answers the finding's search
    numbers: frozenset[float]
    drugs: frozenset[str]


def _candidate(
    source: RetrievedSource,
    finding: Finding,
    fits: PatientFit,
    values: Mapping[str, float],
) -> _Candidate | None:
    evidence = finding.evidence
    assert evidence is not None
    if not section_fits(source, fits, values):
        return None
    own_section = " > ".join(source.section_path[1:])
    if not mentions_any(f"{own_section}\n{source.text}", evidence.terms):
        return None
    quote = best_sentences(
        source.text,
        evidence.query,
        section=source.section_path,
        terms=evidence.terms,
        values=values,
        accept=partial(fits.addressed_to, headings=source.section_path),
        advice_only=False,
    )
    if not quote.text:
        return None
    return _Candidate(
        source,
        quote.score,
        frozenset(numbers_in(source.text)),
        frozenset(m.key for m in mentions(source.text)),
    )


def backing_sources(
    finding: Finding,
    sources: Sequence[RetrievedSource],
    fits: PatientFit,
    values: Mapping[str, float],
) -> tuple[RetrievedSource, ...]:
    """The passages to cite for the finding's action, best first; empty when none back it."""
    if finding.evidence is None:
        return ()
    candidates = [
        c for c in (_candidate(s, finding, fits, values) for s in sources) if c is not None
    ]
    numbers = numbers_in(finding.action)
    drugs = {m.key for m in mentions(finding.action) if not fits.takes(m)}
    chosen: list[_Candidate] = []
    while candidates and len(chosen) < MAX_CITED and (numbers or drugs or not chosen):
        best = max(
            candidates,
            key=lambda c: (
                len(numbers & c.numbers) + len(drugs & c.drugs),
                c.score,
                c.source.score,
            ),
        )
        if chosen and not (numbers & best.numbers or drugs & best.drugs):
            break
        chosen.append(best)
        candidates.remove(best)
        numbers -= best.numbers
        drugs -= best.drugs
    return () if numbers or drugs else tuple(c.source for c in chosen)
