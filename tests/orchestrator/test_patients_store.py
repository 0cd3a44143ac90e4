"""PatientStore on a real PostgreSQL: migrations, the shipped bundles round-tripping, one-query
reads, replacement in one transaction, and NotFound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.common.database import open_pool
from services.common.errors import InvalidArgument, NotFound
from services.common.schema import (
    Migration,
    MigrationError,
    apply_migrations,
    discover,
)
from services.orchestrator.patients import loinc
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.models import Coding, Observation
from services.orchestrator.patients.seed import bundle_files, load_files
from services.orchestrator.patients.store import PatientStore
from tests.orchestrator.patients_support import (
    POOL_SETTINGS,
    SHIPPED,
    fresh_database,
    table_counts,
)


@pytest.fixture(scope="module")
async def seeded_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding every shipped bundle."""
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        report = await load_files(PatientStore(pool), bundle_files(SHIPPED))
    assert report.failures == {}
    return dsn


@pytest.fixture(scope="module")
async def store(seeded_dsn: str) -> AsyncIterator[PatientStore]:
    async with open_pool(seeded_dsn, POOL_SETTINGS) as pool:
        yield PatientStore(pool)


async def test_migrations_apply_once_and_are_recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        assert await apply_migrations(pool) == ["0001_patients.sql", "0002_audit.sql"]
        rows = await pool.fetch(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        )
        assert [(r["version"], r["name"]) for r in rows] == [(1, "patients"), (2, "audit")]
        assert [r["checksum"] for r in rows] == [m.checksum for m in discover()]
        tables = await pool.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        assert [t["tablename"] for t in tables] == [
            "allergies",
            "audit_events",
            "conditions",
            "medications",
            "observations",
            "patients",
            "schema_migrations",
        ]
        assert await apply_migrations(pool) == []
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == 2


async def test_replicas_starting_together_apply_migrations_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    async with (
        open_pool(dsn, POOL_SETTINGS) as first,
        open_pool(dsn, POOL_SETTINGS) as second,
        open_pool(dsn, POOL_SETTINGS) as third,
    ):
        results = await asyncio.gather(*(apply_migrations(p) for p in (first, second, third)))
        assert sorted(results) == [[], [], ["0001_patients.sql", "0002_audit.sql"]]
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == 2


async def test_a_failing_migration_leaves_nothing_behind(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    broken = [*discover(), Migration(99, "broken", "CREATE TABLE extra (id int); SELEKT 1;")]
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await apply_migrations(pool, broken)
        tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert tables == []  # not even 0001 or the ledger: one transaction for all


async def test_a_migration_changed_after_it_was_applied_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    original = discover()[0]
    edited = Migration(original.version, original.name, original.sql + "\n-- edited\n")
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        with pytest.raises(
            MigrationError, match=r"0001_patients\.sql changed after it was applied"
        ):
            await apply_migrations(pool, [edited])


def test_migration_files_must_be_numbered(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    assert [m.version for m in discover(tmp_path)] == [1, 2]
    (tmp_path / "third.sql").write_text("SELECT 3;")
    with pytest.raises(MigrationError, match=r"third\.sql"):
        discover(tmp_path)


async def test_every_shipped_bundle_round_trips_with_all_its_parts(store: PatientStore) -> None:
    files = bundle_files(SHIPPED)
    assert len(files) >= 22
    expected = {record.patient_id: record for record in map(read_bundle_file, files)}
    assert await store.list_ids() == sorted(expected)
    for patient_id, record in expected.items():
        stored = await store.get(patient_id)
        # Observations come back oldest first; everything else in bundle order.
        by_time = sorted(record.observations, key=lambda o: o.effective)
        assert stored == record.model_copy(update={"observations": by_time}), patient_id


async def test_a_patient_has_every_part_with_codes_kinds_and_trends(store: PatientStore) -> None:
    record = await store.get("pt-0001")
    assert (record.given_name, record.family_name, record.sex) == ("Margaret", "Ellworth", "female")
    assert str(record.birth_date) == "1951-04-12"
    assert {c.coding.code for c in record.conditions} >= {"44054006", "700379002", "59621000"}
    [metformin] = [m for m in record.medications if m.coding.code == "6809"]
    assert metformin.dosage_text == "1000 mg by mouth twice daily"
    assert metformin.status == "active"
    assert [o.value for o in record.series("egfr")] == [52, 41, 34]
    assert [o.value for o in record.series("hba1c")] == [7.4, 7.8, 8.1]
    latest_egfr = record.latest("egfr")
    assert latest_egfr is not None
    assert latest_egfr.unit == "mL/min/{1.73_m2}"
    assert latest_egfr.coding.system == loinc.SYSTEM
    assert str(latest_egfr.effective.date()) == "2026-04-21"
    # The blood pressure panels became systolic and diastolic observations.
    assert [o.value for o in record.series("systolic_bp")] == [138, 142, 146]
    assert [o.value for o in record.series("diastolic_bp")] == [82, 84, 86]
    creatinine = record.latest("creatinine")
    assert creatinine is not None
    assert creatinine.unit == "mg/dL"
    assert creatinine.value > 1.5

    allergic = await store.get("pt-0012")
    [sulfa] = allergic.allergies
    assert (sulfa.substance.code, sulfa.reaction, sulfa.criticality) == (
        "10180",
        "Eruption of skin",
        "low",
    )
    intolerant = await store.get("pt-0010")
    assert [(a.kind, a.reaction) for a in intolerant.allergies] == [("intolerance", "Muscle pain")]
    assert [m.coding.display for m in intolerant.active_medications] == [
        "ezetimibe",
        "aspirin",
        "metoprolol",
    ]


async def test_get_reads_a_patient_with_exactly_one_query(seeded_dsn: str) -> None:
    statements: list[str] = []

    def remember(record: asyncpg.connection.LoggedQuery) -> None:
        statements.append(record.query)

    async def log_queries(connection: asyncpg.Connection) -> None:
        connection.add_query_logger(remember)  # a set: adding it again on each acquire is a no-op

    pool = await asyncpg.create_pool(seeded_dsn, min_size=1, max_size=1, setup=log_queries)
    try:
        async with pool.acquire() as connection:
            reset_query = connection.get_reset_query()
        await asyncio.sleep(0)  # query loggers run as loop callbacks
        statements.clear()
        record = await PatientStore(pool).get("pt-0004")
        await asyncio.sleep(0)
    finally:
        await pool.close()
    sent = [s for s in statements if s != reset_query]  # the pool's own clean-up on release
    assert len(sent) == 1, sent
    assert "json_agg" in sent[0]
    assert len(record.medications) == 5
    assert len(record.observations) > 10


async def test_an_unknown_patient_is_not_found(store: PatientStore) -> None:
    with pytest.raises(NotFound) as caught:
        await store.get("pt-9999")
    message = str(caught.value)
    assert message.startswith("patient not found")
    assert "make seed" in message and "ListPatients" in message  # how to load, how to list
    assert "pt-9999" not in message
    assert not await store.exists("pt-9999")
    assert await store.exists("pt-0001")


async def test_upsert_replaces_every_part_of_a_patient(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        store = PatientStore(pool)
        original = read_bundle_file(SHIPPED / "pt-0005.json")
        await store.upsert(original)
        slimmer = original.model_copy(
            update={
                "conditions": original.conditions[:1],
                "medications": [],
                "observations": original.observations[:2],
            }
        )
        await store.upsert(slimmer)
        assert await store.get("pt-0005") == slimmer.model_copy(
            update={"observations": sorted(slimmer.observations, key=lambda o: o.effective)}
        )
        assert await table_counts(pool) == {
            "patients": 1,
            "conditions": 1,
            "medications": 0,
            "allergies": 0,
            "observations": 2,
        }


async def test_a_value_the_database_refuses_rolls_the_whole_patient_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        store = PatientStore(pool)
        original = read_bundle_file(SHIPPED / "pt-0001.json")
        await store.upsert(original)
        before = await table_counts(pool)
        # PostgreSQL text cannot hold NUL; the failure comes after the patient row was replaced
        # and the conditions inserted, so only the transaction keeps the old record whole.
        poisoned = original.model_copy(
            update={
                "given_name": "Changed",
                "observations": [
                    *original.observations,
                    Observation(
                        coding=Coding(system=loinc.SYSTEM, code="4548-4", display="bad\x00name"),
                        value=7.0,
                        effective=original.observations[0].effective,
                        kind="hba1c",
                    ),
                ],
            }
        )
        with pytest.raises(InvalidArgument, match="patient pt-0001: the database refused a value"):
            await store.upsert(poisoned)
        assert await table_counts(pool) == before
        assert (await store.get("pt-0001")).given_name == "Margaret"


async def test_list_page_filters_by_id_or_name_prefix_ignoring_case(store: PatientStore) -> None:
    by_family = await store.list_page("CASTELLAN", "", 10)
    assert [(p.patient_id, p.family_name) for p in by_family] == [
        ("pt-0003", "Castellanos"),
        ("pt-0024", "Castellano"),
    ]
    assert [p.patient_id for p in await store.list_page("pt-002", "", 10)] == [
        "pt-0020",
        "pt-0021",
        "pt-0022",
        "pt-0023",
        "pt-0024",
    ]
    assert [p.patient_id for p in await store.list_page("linh cast", "", 10)] == ["pt-0003"]
    assert [p.patient_id for p in await store.list_page("margaret", "", 10)] == ["pt-0001"]
    first = (await store.list_page("", "", 1))[0]
    assert first.given_name == "Margaret" and first.birth_date is not None


async def test_list_page_takes_a_typed_wildcard_literally(store: PatientStore) -> None:
    assert await store.list_page("%", "", 10) == []
    assert await store.list_page("pt-00_1", "", 10) == []


async def test_list_page_continues_after_the_last_id(store: PatientStore) -> None:
    pages: list[str] = []
    after = ""
    while batch := await store.list_page("pt-", after, 7):
        pages.extend(p.patient_id for p in batch)
        after = batch[-1].patient_id
    assert pages == [f"pt-{n:04d}" for n in range(1, 25)]
