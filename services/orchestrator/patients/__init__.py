"""Patient records: PostgreSQL storage, the FHIR R4 loader and ``make seed``.

- ``models``: PatientRecord, what the agents read.
- ``store``: ``open_patient_store(settings)`` (connect, migrate, yield a PatientStore with
  ``get``/``exists``/``list_ids``/``upsert``).
- ``config``: ``DATABASE_URL`` or the embedded server in ``ORCHESTRATOR_PG_DATA_DIR``; pool sizes.
- ``database``: the DSN (embedded PostgreSQL or ``DATABASE_URL``) and the asyncpg pool.
- ``schema`` with ``migrations/NNNN_name.sql``: migrations applied at start-up.
- ``fhir_loader``, ``loinc``, ``seed``: FHIR R4 Bundles to records, LOINC kinds, the seed CLI.
- ``telemetry``: ``instrument_asyncpg()``, query spans without patient values.

This package imports nothing itself, so that reading ``models`` stays cheap.
"""
