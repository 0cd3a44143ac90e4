"""asyncpg spans carry the parameterised SQL and nothing from the record, even when a query
fails with a message that quotes a value."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from services.common.database import open_pool
from services.common.database_telemetry import instrument_asyncpg
from services.common.schema import apply_migrations
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.store import PatientStore
from tests.orchestrator.patients_support import POOL_SETTINGS, SHIPPED, fresh_database
from tests.support.spans import everything_recorded

SECRET = "Zebulon-Quartermaine-1931"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """asyncpg instrumented for this test only, into an in-memory exporter."""
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_asyncpg(provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


@pytest.fixture
async def pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    dsn = await fresh_database(tmp_path_factory)
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        await apply_migrations(pool)
        yield pool


async def test_spans_hold_statements_but_no_patient_values(
    spans: InMemorySpanExporter, pool: asyncpg.Pool
) -> None:
    record = read_bundle_file(SHIPPED / "pt-0001.json")
    record = record.model_copy(update={"family_name": SECRET})
    store = PatientStore(pool)
    await store.upsert(record)
    assert (await store.get("pt-0001")).family_name == SECRET
    # A query that fails with the value in asyncpg's message ("invalid input for query
    # argument $1: 'Zebulon...'"): the span must not record that message.
    with pytest.raises(asyncpg.DataError, match=SECRET):
        await pool.fetchval("SELECT $1::integer", SECRET)

    finished = spans.get_finished_spans()
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in finished]
    assert any(s.lstrip().startswith("SELECT json_build_object(") for s in statements)
    assert any(s.lstrip().startswith("INSERT INTO observations") for s in statements)
    for span in finished:
        recorded = everything_recorded(span)
        assert SECRET not in recorded, recorded
        for value in ("Margaret", "1951-04-12", "pt-0001"):
            assert value not in recorded, recorded
        assert not any("parameters" in key for key in span.attributes or {})
    [failed] = [s for s in finished if s.status.status_code is StatusCode.ERROR]
    assert failed.events == ()
    assert (failed.attributes or {}).get("db.statement") == "SELECT $1::integer"
