"""The FHIR R4 bundle loader: what it maps, and how bad bundles fail (clearly, without patient
values in the message, and without storing anything)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.common.database import open_pool
from services.common.schema import apply_migrations
from services.orchestrator.patients.fhir_loader import BundleError, parse_bundle, read_bundle_file
from services.orchestrator.patients.seed import load_files
from services.orchestrator.patients.store import PatientStore
from tests.orchestrator.patients_support import (
    POOL_SETTINGS,
    SHIPPED,
    fresh_database,
    table_counts,
)

Bundle = dict[str, Any]
# Values of pt-0001 that must never appear in an error message.
PHI = ("Margaret", "Ellworth", "1951-04-12")


def shipped(patient_id: str) -> Bundle:
    bundle: Bundle = json.loads((SHIPPED / f"{patient_id}.json").read_text())
    return bundle


def entry_index(bundle: Bundle, resource_type: str, kind_code: str | None = None) -> int:
    """Index of the first entry of a type (with a given code, for observations)."""
    for index, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] != resource_type:
            continue
        codes = [c["code"] for c in resource.get("code", {}).get("coding", [])]
        if kind_code is None or kind_code in codes:
            return index
    raise AssertionError(f"no {resource_type} {kind_code or ''}")


def without_patient(bundle: Bundle) -> None:
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]


def hba1c_as_word(bundle: Bundle) -> None:
    resource = bundle["entry"][entry_index(bundle, "Observation", "4548-4")]["resource"]
    resource["valueQuantity"]["value"] = "eight point one"


def hba1c_as_string(bundle: Bundle) -> None:
    resource = bundle["entry"][entry_index(bundle, "Observation", "4548-4")]["resource"]
    del resource["valueQuantity"]
    resource["valueString"] = "8.1 %"


def dangling_subject(bundle: Bundle) -> None:
    resource = bundle["entry"][entry_index(bundle, "MedicationStatement")]["resource"]
    resource["subject"] = {"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}


def second_patient(bundle: Bundle) -> None:
    patient = copy.deepcopy(bundle["entry"][0])
    patient["fullUrl"] = "urn:uuid:11111111-1111-1111-1111-111111111111"
    patient["resource"]["id"] = "pt-other"
    bundle["entry"].append(patient)


def condition_without_code(bundle: Bundle) -> None:
    del bundle["entry"][entry_index(bundle, "Condition")]["resource"]["code"]


def birth_date_garbled(bundle: Bundle) -> None:
    bundle["entry"][0]["resource"]["birthDate"] = "12/04/1951"


BAD_BUNDLES: list[tuple[Callable[[Bundle], None], str]] = [
    (without_patient, r"^bad\.json: no Patient resource$"),
    (hba1c_as_word, r"^bad\.json: entry \d+ \(Observation\): valueQuantity\.value: .+"),
    (hba1c_as_string, r"^bad\.json: entry \d+ \(Observation\): hba1c without a quantity$"),
    (
        dangling_subject,
        r"^bad\.json: entry \d+ \(MedicationStatement\): subject does not refer to the bundle's"
        r" Patient$",
    ),
    (second_patient, r"^bad\.json: 2 Patient resources \(entries 0, \d+\)"),
    (condition_without_code, r"^bad\.json: entry \d+ \(Condition\): no code$"),
    (birth_date_garbled, r"^bad\.json: entry 0 \(Patient\): birthDate: .+"),
]


@pytest.fixture(scope="module")
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        yield pool


@pytest.mark.parametrize(
    ("breakage", "message"), BAD_BUNDLES, ids=lambda v: getattr(v, "__name__", "")
)
async def test_a_bad_bundle_fails_clearly_and_stores_nothing(
    pool: asyncpg.Pool,
    tmp_path: Path,
    breakage: Callable[[Bundle], None],
    message: str,
) -> None:
    store = PatientStore(pool)
    await store.upsert(read_bundle_file(SHIPPED / "pt-0001.json"))
    before = await table_counts(pool)
    stored_before = await store.get("pt-0001")

    bundle = shipped("pt-0001")
    breakage(bundle)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    with pytest.raises(BundleError) as caught:
        read_bundle_file(path)
    problem = str(caught.value)
    assert re.search(message, problem), problem
    assert not any(value in problem for value in PHI), problem
    assert "eight point one" not in problem and "8.1" not in problem

    report = await load_files(store, [path])
    assert report.loaded == {}
    assert report.failures == {"bad.json": problem}
    assert await table_counts(pool) == before
    assert await store.get("pt-0001") == stored_before


def test_files_that_are_not_bundles_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "entry": [')
    with pytest.raises(BundleError, match=r"^broken\.json: not valid JSON \(.+ line 1 column"):
        read_bundle_file(broken)
    with pytest.raises(BundleError, match=r"^p\.json: not a FHIR Bundle"):
        parse_bundle({"resourceType": "Patient", "id": "x"}, "p.json")
    with pytest.raises(BundleError, match=r"^b\.json: Bundle: type: .*required"):
        parse_bundle({"resourceType": "Bundle", "entry": []}, "b.json")
    with pytest.raises(BundleError, match=r"^b\.json: Bundle: type must be one of document, "):
        parse_bundle({"resourceType": "Bundle", "type": "not-a-type", "entry": []}, "b.json")
    with pytest.raises(BundleError, match=r"^b\.json: entry 0: no resource object$"):
        parse_bundle({"resourceType": "Bundle", "type": "collection", "entry": [{}]}, "b.json")


def test_r5_shaped_resources_are_rejected_as_not_r4() -> None:
    bundle = shipped("pt-0001")
    statement = bundle["entry"][entry_index(bundle, "MedicationStatement")]["resource"]
    statement["medication"] = {"concept": statement.pop("medicationCodeableConcept")}
    with pytest.raises(BundleError, match=r"\(MedicationStatement\): medication: "):
        parse_bundle(bundle, "r5.json")


def test_references_resolve_by_full_url_or_patient_id() -> None:
    by_uuid = parse_bundle(shipped("pt-0001"), "pt-0001.json")  # urn:uuid: references
    by_id = parse_bundle(shipped("pt-0004"), "pt-0004.json")  # Patient/pt-0004 references
    assert by_uuid.patient_id == "pt-0001" and by_uuid.medications
    assert by_id.patient_id == "pt-0004" and by_id.medications
    transaction = shipped("pt-0003")
    assert transaction["type"] == "transaction"
    assert parse_bundle(transaction, "pt-0003.json").observations


def test_medication_requests_and_structured_dosage_are_read() -> None:
    record = parse_bundle(shipped("pt-0002"), "pt-0002.json")
    assert [(m.coding.display, m.dosage_text, m.status) for m in record.medications] == [
        ("metformin", "1000 mg twice per day", "active"),
        ("glipizide", "10 mg twice per day", "active"),
    ]


def test_a_medication_reference_resolves_to_a_medication_in_the_bundle() -> None:
    bundle = shipped("pt-0001")
    index = entry_index(bundle, "MedicationStatement")
    statement = bundle["entry"][index]["resource"]
    concept = statement.pop("medicationCodeableConcept")
    statement["medicationReference"] = {
        "reference": "urn:uuid:22222222-2222-2222-2222-222222222222"
    }
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
            "resource": {"resourceType": "Medication", "code": concept},
        }
    )
    record = parse_bundle(bundle, "ref.json")
    assert record.medications[0].coding.code == "6809"
    statement["medicationReference"] = {"reference": "Medication/missing"}
    with pytest.raises(BundleError, match=r"medicationReference not found in the bundle"):
        parse_bundle(bundle, "ref.json")


def test_voided_entries_and_resources_the_briefing_does_not_read_are_skipped() -> None:
    bundle = shipped("pt-0001")
    conditions = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    conditions[0]["resource"]["verificationStatus"]["coding"][0]["code"] = "entered-in-error"
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:33333333-3333-3333-3333-333333333333",
            "resource": {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
            },
        }
    )
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:44444444-4444-4444-4444-444444444444",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
                "subject": {"reference": "Patient/pt-0001"},
                "effectiveDateTime": "2025-02-11T08:30:00Z",
                "valueCodeableConcept": {"text": "Never smoked tobacco"},
            },
        }
    )
    record = parse_bundle(bundle, "pt-0001.json")
    assert len(record.conditions) == len(conditions) - 1
    assert all(o.coding.code != "72166-2" for o in record.observations)
