"""Patient records: PostgreSQL storage, the FHIR R4 loader and ``make seed``.

- ``models``: PatientRecord, what the agents read.
- ``store``: a PatientStore (``get``/``exists``/``list_ids``/``upsert``) on a pool, and
  ``open_patient_store(settings)`` (connect, migrate, yield the store).
- ``fhir_loader``, ``loinc``, ``seed``: FHIR R4 Bundles to records, LOINC kinds, the seed CLI.

The database itself (``DATABASE_URL`` or the embedded server in ``PG_DATA_DIR``, the pool, the
migrations, query spans) is shared with the retriever's audit trail: ``services.common.database``.

This package imports nothing itself, so that reading ``models`` stays cheap.
"""
