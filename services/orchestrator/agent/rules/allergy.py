"""Allergies and intolerances: next to the active medications, and on their own (a briefing
states every recorded allergy, the severe ones as warnings)."""

from __future__ import annotations

import re

from services.orchestrator.agent.clinical import Facts, plain_display
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.drugs import DRUG_CLASSES, SULFONAMIDE_NONANTIBIOTICS
from services.orchestrator.agent.rules.finding import Evidence, Finding, Rule, finding
from services.orchestrator.patients.models import Allergy, PatientRecord

SEVERE_REACTIONS = ("anaphylaxis", "angioedema", "stevens-johnson", "toxic epidermal", "dress")
_ANGIOEDEMA_EVIDENCE = Evidence(
    "ACE inhibitor angioedema management ARB with caution sacubitril/valsartan", ("angioedema",)
)


def _ace_inhibitor_angioedema(substance: str, reaction: str) -> bool:
    names_an_ace_inhibitor = "ace inhibitor" in substance or any(
        DRUG_CLASSES.get(word) == "acei" for word in substance.split()
    )
    return names_an_ace_inhibitor and "angioedema" in reaction


def allergy_conflicts(record: PatientRecord, facts: Facts) -> list[Finding]:
    findings: list[Finding] = []
    for allergy in record.allergies:
        substance = allergy.substance.display.lower()
        for drug in facts.drugs:
            if drug.name and drug.name in substance:
                findings.append(
                    finding(
                        Severity.CRITICAL,
                        f"Active {drug.name} despite a recorded {allergy.kind} to it.",
                        f"Confirm the {allergy.kind} and whether {drug.name} should continue.",
                    )
                )
        if _ace_inhibitor_angioedema(substance, allergy.reaction.lower()):
            for drug in facts.drugs_of("acei", "arni"):
                if drug.name not in substance:
                    findings.append(
                        finding(
                            Severity.CRITICAL,
                            f"{drug.name.capitalize()} after ACE-inhibitor angioedema.",
                            f"Stop {drug.name}: ACE inhibitors and sacubitril/valsartan are "
                            "contraindicated after ACE-inhibitor angioedema.",
                            _ANGIOEDEMA_EVIDENCE,
                        )
                    )
        if "sulfonamide" in substance or "sulfa" in substance:
            for drug in facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS):
                findings.append(
                    finding(
                        Severity.INFO,
                        f"Sulfonamide antibiotic allergy recorded; {drug.name} is a "
                        "non-antibiotic sulfonamide.",
                        f"Continue {drug.name}: non-antibiotic sulfonamides do not cross-react "
                        "with sulfonamide antibiotics.",
                        Evidence(
                            "sulfonamide antibiotic allergy non-antibiotic sulfonamides loop "
                            "diuretics safe",
                            ("sulfonamide",),
                        ),
                    )
                )
    return findings


def _substance(allergy: Allergy) -> str:
    """The allergen as a reader says it ("penicillin", not "Penicillin -class of antibiotic-")."""
    name = plain_display(allergy.substance.display)
    return re.sub(r"\s+-[^-]+-\s*$", "", name).strip()


def _notice(allergy: Allergy) -> Finding:
    substance = _substance(allergy)
    reaction = allergy.reaction.lower()
    severe = allergy.criticality == "high" or any(r in reaction for r in SEVERE_REACTIONS)
    details = ", ".join(
        part
        for part in (reaction, "high criticality" if allergy.criticality == "high" else "")
        if part
    )
    message = f"{allergy.kind.capitalize()} to {substance} recorded" + (
        f" ({details})." if details else "."
    )
    severity = Severity.WARNING if severe else Severity.INFO
    lowered = substance.lower()
    if _ace_inhibitor_angioedema(lowered, reaction):
        return finding(
            severity,
            f"ACE-inhibitor angioedema recorded ({substance}).",
            "Do not use an ACE inhibitor or sacubitril/valsartan after ACE-inhibitor angioedema.",
            _ANGIOEDEMA_EVIDENCE,
        )
    if "penicillin" in lowered and severe:
        return finding(
            severity,
            message,
            "Avoid penicillins. If a beta-lactam is needed, choose a cephalosporin with a "
            "dissimilar side chain (for example cefazolin or ceftriaxone), or arrange penicillin "
            "skin testing.",
            Evidence(
                "penicillin anaphylaxis history cephalosporin dissimilar side chain skin testing",
                ("penicillin",),
            ),
        )
    return finding(severity, message, "")


def _covered(allergy: Allergy, facts: Facts) -> bool:
    """Whether :func:`allergy_conflicts` raises an alert about this allergy."""
    substance = allergy.substance.display.lower()
    if any(drug.name and drug.name in substance for drug in facts.drugs):
        return True
    if ("sulfonamide" in substance or "sulfa" in substance) and facts.drugs_of(
        *SULFONAMIDE_NONANTIBIOTICS
    ):
        return True
    return _ace_inhibitor_angioedema(substance, allergy.reaction.lower()) and any(
        drug.name not in substance for drug in facts.drugs_of("acei", "arni")
    )


def allergy_notices(record: PatientRecord, facts: Facts) -> list[Finding]:
    """Each recorded allergy or intolerance that no conflict with an active drug covers."""
    return [_notice(allergy) for allergy in record.allergies if not _covered(allergy, facts)]


RULES: tuple[Rule, ...] = (allergy_conflicts, allergy_notices)
