"""Schema migrations of the project's one database: ordered ``migrations/NNNN_name.sql`` files
applied at start-up by every service that opens it (:func:`services.common.database.open_database`).

All pending migrations run in one transaction that first takes a transaction-level advisory
lock, so replicas starting together apply them once: the others wait on the lock, then find
them recorded in ``schema_migrations`` and do nothing. A file changed after it was applied is
refused (its checksum no longer matches), since the database would not match the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from services.common.errors import FailedPrecondition

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every process that migrates this schema
# (this one predates the move to services.common: kept, so every version takes the same lock).
_LOCK_KEY = "services.orchestrator.patients.migrations"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(FailedPrecondition):
    """The migration files or the recorded history are inconsistent."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in version order."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"two migrations have version {version:04d}")
        migrations[version] = Migration(version, match["name"], path.read_text(encoding="utf-8"))
    return [migrations[version] for version in sorted(migrations)]


async def apply_migrations(
    pool: asyncpg.Pool, migrations: list[Migration] | None = None
) -> list[str]:
    """Applies the pending migrations; returns the file names it applied (empty if none).

    A database that cannot be reached raises the driver's connection error (callers translate
    it, see :func:`services.common.database.open_database`).
    """
    pending = discover() if migrations is None else migrations
    applied_now: list[str] = []
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _LOCK_KEY)
        await connection.execute(_CREATE_LEDGER)
        rows = await connection.fetch("SELECT version, name, checksum FROM schema_migrations")
        recorded = {row["version"]: row for row in rows}
        for migration in pending:
            row = recorded.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.file_name} changed after it was applied"
                    )
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            applied_now.append(migration.file_name)
    return applied_now
