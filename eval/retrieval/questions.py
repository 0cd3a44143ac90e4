"""The project's own labelled question set (``questions.yaml``): what each question expects.

Each question names one or more places that answer it: a document id of ``data/guidelines`` and
a section, written as the headings below the document's title joined by ``" > "`` (the chunks'
``section_path`` without its first element, which is the document itself). A chunk is relevant
when it belongs to one of those places.

A question is ``plain`` (worded as the guideline words it) or ``paraphrased``, and then says how:
``abbreviation`` (AF, HFrEF, DOAC, HTN), ``brand`` (Eliquis for apixaban: the corpus names drugs
only by generic name) or ``lab-synonym`` (K for potassium, kidney function for eGFR).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

QUESTIONS = Path(__file__).resolve().parent / "questions.yaml"
SECTION_SEPARATOR = " > "
Kind = Literal["plain", "paraphrased"]
Paraphrase = Literal["abbreviation", "brand", "lab-synonym"]


class Place(BaseModel):
    """A section of a document that answers a question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document: str = Field(min_length=1)
    section: str = Field(min_length=1)

    @property
    def headings(self) -> tuple[str, ...]:
        """The section's headings below the document title, outermost first."""
        return tuple(self.section.split(SECTION_SEPARATOR))


class Question(BaseModel):
    """One labelled question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^q\d{3}$")
    question: str = Field(min_length=1)
    kind: Kind
    how: tuple[Paraphrase, ...] = ()
    relevant: tuple[Place, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _how_matches_kind(self) -> Question:
        if self.kind == "paraphrased" and not self.how:
            raise ValueError(f"{self.id}: a paraphrased question says how (how: [...])")
        if self.kind == "plain" and self.how:
            raise ValueError(f"{self.id}: a plain question has no 'how'")
        return self

    def is_relevant(self, document_id: str, section_path: Sequence[str]) -> bool:
        """Whether a chunk of ``document_id`` at ``section_path`` (title first) answers it."""
        below_title = tuple(section_path[1:])
        return any(
            place.document == document_id and place.headings == below_title
            for place in self.relevant
        )


_QUESTION_LIST = TypeAdapter(list[Question])


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The questions of ``path``; raises ValueError naming the problem when one is malformed."""
    questions = _QUESTION_LIST.validate_python(yaml.safe_load(path.read_text(encoding="utf-8")))
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise ValueError(f"question id {question.id} is used twice in {path}")
        seen.add(question.id)
    return questions
