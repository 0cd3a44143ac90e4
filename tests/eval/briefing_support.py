"""Paths and helpers shared by the briefing-evaluation tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "data" / "patients"
GUIDELINES = ROOT / "data" / "guidelines"
