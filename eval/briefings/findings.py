"""The expected findings of the synthetic patients (data/patients/expected/findings.json, written
by data/patients/generate.py), as typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.briefings.actions import Action
from eval.briefings.lexicon import SUBJECTS
from eval.briefings.text import Quantity, parse_threshold

ROOT = Path(__file__).resolve().parents[2]
PATIENTS_DIR = ROOT / "data" / "patients"
EXPECTED_FINDINGS = PATIENTS_DIR / "expected" / "findings.json"


@dataclass(frozen=True)
class Expected:
    """A finding a good briefing states (see data/patients/generate.py, ``Expect``)."""

    key: str
    kind: str  # "alert" | "recommendation"
    subjects: tuple[str, ...]
    actions: tuple[Action, ...]
    thresholds: tuple[Quantity, ...]
    note: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.key}"


@dataclass(frozen=True)
class Forbidden:
    """A statement a good briefing does not make (see data/patients/generate.py, ``Forbid``)."""

    key: str
    subjects: tuple[str, ...]
    actions: tuple[Action, ...]
    note: str


@dataclass(frozen=True)
class PatientFindings:
    patient_id: str
    expected: tuple[Expected, ...]
    forbidden: tuple[Forbidden, ...]


def _subjects(raw: list[str], where: str) -> tuple[str, ...]:
    unknown = [s for s in raw if s not in SUBJECTS]
    if unknown or not raw:
        raise ValueError(f"{where}: subjects {unknown or raw} are not in eval/briefings/lexicon.py")
    return tuple(raw)


def _expected(raw: dict[str, Any], where: str) -> Expected:
    if raw["kind"] not in ("alert", "recommendation"):
        raise ValueError(f"{where}: kind must be 'alert' or 'recommendation'")
    return Expected(
        key=raw["key"],
        kind=raw["kind"],
        subjects=_subjects(raw["subjects"], where),
        actions=tuple(Action(a) for a in raw["actions"]),
        thresholds=tuple(parse_threshold(t) for t in raw["thresholds"]),
        note=raw["note"],
    )


def _forbidden(raw: dict[str, Any], where: str) -> Forbidden:
    return Forbidden(
        key=raw["key"],
        subjects=_subjects(raw["subjects"], where),
        actions=tuple(Action(a) for a in raw["actions"]),
        note=raw["note"],
    )


def load_findings(path: Path = EXPECTED_FINDINGS) -> dict[str, PatientFindings]:
    """Every patient's findings by patient id; a bad entry raises ValueError naming it."""
    patients = json.loads(path.read_text(encoding="utf-8"))["patients"]
    return {
        pid: PatientFindings(
            patient_id=pid,
            expected=tuple(_expected(e, f"{pid} {e['key']}") for e in entry["expected"]),
            forbidden=tuple(_forbidden(f, f"{pid} {f['key']}") for f in entry["forbidden"]),
        )
        for pid, entry in patients.items()
    }
