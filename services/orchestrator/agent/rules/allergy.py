"""Allergies and intolerances next to the active medications."""

from __future__ import annotations

from services.orchestrator.agent.clinical import DRUG_CLASSES, SULFONAMIDE_NONANTIBIOTICS, Facts
from services.orchestrator.agent.domain import Severity
from services.orchestrator.agent.rules.finding import Finding, Rule, finding
from services.orchestrator.patients.models import PatientRecord


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
                            f"Stop {drug.name}: ACE inhibitors and sacubitril are "
                            "contraindicated after ACE-inhibitor angioedema.",
                        )
                    )
        if "sulfonamide" in substance or "sulfa" in substance:
            for drug in facts.drugs_of(*SULFONAMIDE_NONANTIBIOTICS):
                findings.append(
                    finding(
                        Severity.INFO,
                        f"Sulfonamide allergy recorded; {drug.name} is a non-antibiotic "
                        "sulfonamide.",
                        "Cross-reactivity is uncommon; continue with monitoring unless the "
                        "reaction was severe.",
                    )
                )
    return findings


RULES: tuple[Rule, ...] = (allergy_conflicts,)
