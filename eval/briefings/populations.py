"""Who a guideline sentence is addressed to, and whether a patient is among them.

A sentence addresses a population three ways: "people with <conditions>" (also "adults who
have", "patients having"), "people without <conditions>", and a scope "in/for <condition>"
("mortality benefit in HFrEF", "For AF lasting 48 hours ..."). The conditions are the words of
lexicon.CONDITIONS found in the clause, up to its verb or punctuation; a condition negated inside
it ("not on dialysis", "non-diabetic") is not one. A population with alternatives ("ASCVD or
multiple risk factors") fits when one alternative does, and an alternative naming no condition
is taken to fit: the scorer cannot tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eval.briefings.lexicon import CONDITIONS
from eval.briefings.patient import PatientFacts

_WHO = r"\b(?:adults?|patients?|people|persons|individuals|those|anyone|men|women)\s+"
_WITH = re.compile(_WHO + r"(?:who\s+(?:have|had)|with|having)\s+(?P<clause>.*)", re.IGNORECASE)
_WITHOUT = re.compile(
    _WHO + r"(?:without|who\s+do\s+not\s+have|with\s+no)\s+(?P<clause>.*)", re.IGNORECASE
)
_SCOPE_START = re.compile(r"\b(?:in|for|among)\s+", re.IGNORECASE)
_CLAUSE_END = re.compile(
    r"\b(?:should|must|is|are|was|were|can|could|may|might|will|need|needs|benefit|benefits|"
    r"receive|receives|require|requires|who|whose|if|when|because|than|do|does|have|has)\b"
    r"|[,;:.()]",
    re.IGNORECASE,
)
_ALSO = re.compile(r"\b(?:and|or|also)\s*$", re.IGNORECASE)
_NEGATED = re.compile(r"\b(?:not|no|non|without)\b[\s-]*(?:\w+\s+){0,2}$", re.IGNORECASE)
_ADJECTIVES = re.compile(
    r"^(?:(?:established|known|confirmed|chronic|symptomatic|stable|clinical|a|an|the)\s+)*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Population:
    """The conditions of one addressed population, per alternative; ``without``: addressed to
    people who do not have them."""

    alternatives: tuple[tuple[str, ...], ...]
    without: bool = False


def _clause(text: str) -> str:
    end = _CLAUSE_END.search(text)
    return (text[: end.start()] if end else text).strip()


def conditions_in(text: str) -> tuple[str, ...]:
    """Condition keys named in a clause, leaving out negated ones ("not on dialysis")."""
    found = []
    for key, entry in CONDITIONS.items():
        for match in entry.pattern.finditer(text):
            if not _NEGATED.search(text[: match.start()]):
                found.append(key)
                break
    return tuple(found)


def _population(clause: str, without: bool = False) -> Population | None:
    if not clause or clause.lower().startswith("or without"):
        return None
    alternatives = tuple(
        conditions_in(part) for part in re.split(r"\bor\b", clause, flags=re.IGNORECASE)
    )
    return Population(alternatives, without) if any(alternatives) else None


def populations(sentence: str) -> list[Population]:
    """The populations a sentence is addressed to."""
    found = []
    for pattern, without in ((_WITH, False), (_WITHOUT, True)):
        for match in pattern.finditer(sentence):
            population = _population(_clause(match.group("clause")), without)
            if population is not None:
                found.append(population)
    for match in _SCOPE_START.finditer(sentence):
        if _ALSO.search(sentence[: match.start()]):
            continue  # "..., and in HFrEF": one more situation, not the population
        rest = sentence[match.end() :]
        lead = _ADJECTIVES.match(rest)
        rest = rest[lead.end() if lead else 0 :]
        clause = _clause(rest)
        # A scope only when the clause opens with a condition: "in HFrEF", not "in their place".
        if any(entry.pattern.match(clause) for entry in CONDITIONS.values()):
            population = _population(clause)
            if population is not None:
                found.append(population)
    return found


def unmet(sentence: str, facts: PatientFacts) -> list[str]:
    """What keeps the patient out of a population the sentence addresses: conditions they lack
    ("ascvd"), or have though it is addressed to people without them ("not ascvd")."""
    for population in populations(sentence):
        if population.without:
            present = sorted({c for alt in population.alternatives for c in alt if facts.has(c)})
            if present:
                return [f"no {c}" for c in present]
            continue
        missing = [[c for c in alt if not facts.has(c)] for alt in population.alternatives]
        if all(missing):
            return sorted({c for alt in missing for c in alt})
    return []
