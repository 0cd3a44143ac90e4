"""PatientStore: reads a whole patient in one round trip, replaces one in one transaction.

Every statement is parameterised, so the SQL text (which OpenTelemetry records on spans) never
carries a patient value. Errors never quote record contents; the patient id may be echoed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import asyncpg

from services.common.config import DatabaseSettings
from services.common.database import open_database, unavailable_on_connection_error
from services.common.errors import InvalidArgument, NotFound
from services.orchestrator.patients.models import PatientRecord

UNAVAILABLE_MESSAGE = "patient database unavailable"
#: Names no id (a caller may have typed anything), and says how to find or load patients.
NOT_FOUND_MESSAGE = (
    "patient not found: ListPatients (GET /api/v1/patients on the gateway) lists those loaded; "
    "on a development machine with the embedded database, `make seed` loads the example "
    "patients of data/patients (python -m services.orchestrator.patients.seed <folder or file>)"
)

# One statement: the patient row with each part aggregated into a JSON array, built in the
# shape of PatientRecord so that pydantic decodes the text in one step.
_GET_PATIENT = """
SELECT json_build_object(
    'patient_id', p.patient_id,
    'given_name', p.given_name,
    'family_name', p.family_name,
    'birth_date', p.birth_date,
    'sex', p.sex,
    'conditions', COALESCE((
        SELECT json_agg(json_build_object(
            'coding', json_build_object(
                'system', c.code_system, 'code', c.code, 'display', c.display),
            'clinical_status', c.clinical_status,
            'onset', c.onset) ORDER BY c.id)
        FROM conditions c WHERE c.patient_id = p.patient_id), '[]'::json),
    'medications', COALESCE((
        SELECT json_agg(json_build_object(
            'coding', json_build_object(
                'system', m.code_system, 'code', m.code, 'display', m.display),
            'dosage_text', m.dosage_text,
            'status', m.status) ORDER BY m.id)
        FROM medications m WHERE m.patient_id = p.patient_id), '[]'::json),
    'allergies', COALESCE((
        SELECT json_agg(json_build_object(
            'substance', json_build_object(
                'system', a.code_system, 'code', a.code, 'display', a.display),
            'category', a.category,
            'criticality', a.criticality,
            'reaction', a.reaction,
            'kind', a.kind) ORDER BY a.id)
        FROM allergies a WHERE a.patient_id = p.patient_id), '[]'::json),
    'observations', COALESCE((
        SELECT json_agg(json_build_object(
            'coding', json_build_object(
                'system', o.code_system, 'code', o.code, 'display', o.display),
            'value', o.value,
            'unit', o.unit,
            'effective', o.effective,
            'kind', o.kind) ORDER BY o.effective, o.id)
        FROM observations o WHERE o.patient_id = p.patient_id), '[]'::json)
)::text
FROM patients p
WHERE p.patient_id = $1
"""

# A page of patients by id after $2, those whose id or name starts with $1 (lower case; empty:
# all). starts_with needs no escaping of LIKE wildcards in what a caller typed.
_LIST_PATIENTS = """
SELECT patient_id, given_name, family_name, birth_date
FROM patients
WHERE patient_id > $2
  AND ($1 = ''
       OR starts_with(lower(patient_id), $1)
       OR starts_with(lower(given_name), $1)
       OR starts_with(lower(family_name), $1)
       OR starts_with(lower(given_name || ' ' || family_name), $1))
ORDER BY patient_id
LIMIT $3
"""

_INSERT_PATIENT = """
INSERT INTO patients (patient_id, given_name, family_name, birth_date, sex)
VALUES ($1, $2, $3, $4, $5)
"""
_INSERT_CONDITION = """
INSERT INTO conditions (patient_id, code_system, code, display, clinical_status, onset)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_INSERT_MEDICATION = """
INSERT INTO medications (patient_id, code_system, code, display, dosage_text, status)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_INSERT_ALLERGY = """
INSERT INTO allergies
    (patient_id, code_system, code, display, category, criticality, reaction, kind)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_INSERT_OBSERVATION = """
INSERT INTO observations
    (patient_id, code_system, code, display, kind, value, unit, effective)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


@dataclass(frozen=True)
class PatientListing:
    """Who a patient is, as a listing shows it."""

    patient_id: str
    given_name: str
    family_name: str
    birth_date: date | None


class PatientStore:
    """Patient records in PostgreSQL, through one asyncpg pool per process."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, patient_id: str) -> PatientRecord:
        """The patient with all its parts, read with a single query.

        Raises NotFound when there is no such patient and Unavailable when the database cannot
        be reached.
        """
        with unavailable_on_connection_error(UNAVAILABLE_MESSAGE):
            document = await self._pool.fetchval(_GET_PATIENT, patient_id)
        if document is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return PatientRecord.model_validate_json(document)

    async def exists(self, patient_id: str) -> bool:
        with unavailable_on_connection_error(UNAVAILABLE_MESSAGE):
            found = await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM patients WHERE patient_id = $1)", patient_id
            )
        return bool(found)

    async def list_ids(self) -> list[str]:
        """Every patient id, sorted."""
        with unavailable_on_connection_error(UNAVAILABLE_MESSAGE):
            rows = await self._pool.fetch("SELECT patient_id FROM patients ORDER BY patient_id")
        return [row["patient_id"] for row in rows]

    async def list_page(self, prefix: str, after_id: str, limit: int) -> list[PatientListing]:
        """Up to ``limit`` patients with ids after ``after_id`` ("" for the first), by id, whose
        id, given name, family name or "given family" starts with ``prefix`` ignoring case."""
        with unavailable_on_connection_error(UNAVAILABLE_MESSAGE):
            rows = await self._pool.fetch(_LIST_PATIENTS, prefix.lower(), after_id, limit)
        return [PatientListing(**dict(row)) for row in rows]

    async def upsert(self, record: PatientRecord) -> None:
        """Stores ``record``, replacing every part of an existing patient, in one transaction.

        Either the whole record is stored or, on any failure, nothing changes. A value the
        database cannot hold (text with a NUL character) raises InvalidArgument.
        """
        try:
            await self._replace(record)
        except asyncpg.DataError as exc:
            # The database's message may quote the value: name only the patient and the class.
            raise InvalidArgument(
                f"patient {record.patient_id}: the database refused a value ({type(exc).__name__})"
            ) from None

    async def _replace(self, record: PatientRecord) -> None:
        pid = record.patient_id
        with unavailable_on_connection_error(UNAVAILABLE_MESSAGE):
            async with self._pool.acquire() as connection, connection.transaction():
                # The parts go with the patient row (ON DELETE CASCADE).
                await connection.execute("DELETE FROM patients WHERE patient_id = $1", pid)
                await connection.execute(
                    _INSERT_PATIENT,
                    pid,
                    record.given_name,
                    record.family_name,
                    record.birth_date,
                    record.sex,
                )
                await connection.executemany(
                    _INSERT_CONDITION,
                    [
                        (
                            pid,
                            c.coding.system,
                            c.coding.code,
                            c.coding.display,
                            c.clinical_status,
                            c.onset,
                        )
                        for c in record.conditions
                    ],
                )
                await connection.executemany(
                    _INSERT_MEDICATION,
                    [
                        (
                            pid,
                            m.coding.system,
                            m.coding.code,
                            m.coding.display,
                            m.dosage_text,
                            m.status,
                        )
                        for m in record.medications
                    ],
                )
                await connection.executemany(
                    _INSERT_ALLERGY,
                    [
                        (
                            pid,
                            a.substance.system,
                            a.substance.code,
                            a.substance.display,
                            a.category,
                            a.criticality,
                            a.reaction,
                            a.kind,
                        )
                        for a in record.allergies
                    ],
                )
                await connection.executemany(
                    _INSERT_OBSERVATION,
                    [
                        (
                            pid,
                            o.coding.system,
                            o.coding.code,
                            o.coding.display,
                            o.kind,
                            o.value,
                            o.unit,
                            o.effective,
                        )
                        for o in record.observations
                    ],
                )


@contextlib.asynccontextmanager
async def open_patient_store(settings: DatabaseSettings) -> AsyncIterator[PatientStore]:
    """Opens the database (:func:`~services.common.database.open_database`), yields the store;
    for the seed CLI and tests (the orchestrator shares its pool with the audit trail)."""
    async with open_database(settings) as database:
        yield PatientStore(database.pool)
