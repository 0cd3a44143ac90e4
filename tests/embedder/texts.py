"""Varied clinical-sounding texts for the Embedder tests (generated, no patient data)."""

from __future__ import annotations

import random

_SUBJECTS = [
    "Metformin",
    "An SGLT2 inhibitor",
    "A loop diuretic",
    "Basal insulin",
    "An ACE inhibitor",
    "A GLP-1 receptor agonist",
    "Inhaled corticosteroid therapy",
    "Statin therapy",
    "A beta blocker",
    "Finerenone",
]
_ACTIONS = [
    "should be reviewed when the estimated glomerular filtration rate falls below",
    "is usually continued in stable outpatients with a potassium level under",
    "needs a dose adjustment in older adults with a body weight below",
    "lowers the risk of hospital admission in trials that enrolled people above",
    "is stopped before contrast imaging in people whose creatinine clearance is under",
    "can cause hypoglycaemia when combined with sulfonylureas at doses above",
]
_CONTEXTS = [
    "Clinicians should check renal function at least once a year and more often in frailty.",
    "Guidelines recommend shared decision making and a written plan for sick days.",
    "Monitoring includes blood pressure, serum electrolytes and an annual urine albumin test.",
    "Adverse effects are more common in the first weeks and often settle with time.",
    "Asthma control is assessed by symptoms, reliever use and lung function over four weeks.",
    "Heart failure with preserved ejection fraction benefits from careful volume management.",
    "Lifestyle advice covers diet, physical activity, smoking cessation and sleep.",
    "The evidence grade for this recommendation is moderate, based on two randomised trials.",
]


def passage(seed: int, sentences: int = 8) -> str:
    """A deterministic passage of about 25 tokens per sentence (~200 tokens for 8)."""
    rng = random.Random(seed)
    parts = []
    for _ in range(sentences):
        if rng.random() < 0.5:
            parts.append(
                f"{rng.choice(_SUBJECTS)} {rng.choice(_ACTIONS)} {rng.randint(15, 90)} "
                f"in group {rng.randint(1, 999)}."
            )
        else:
            parts.append(rng.choice(_CONTEXTS))
    return " ".join(parts)


def query(seed: int) -> str:
    """A deterministic short query of about twelve words."""
    rng = random.Random(seed)
    subject = rng.choice(_SUBJECTS).lower()
    return f"when should {subject} be adjusted in stage {rng.randint(1, 5)} kidney disease {seed}"
