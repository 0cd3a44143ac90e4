"""``python -m services.orchestrator.patients.seed`` as a real process: the summary and exit code,
``DATABASE_URL`` and the embedded server (seed, then another process on the same folder), and
the store answering Unavailable once that server is down."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from services.common.config import DatabaseSettings
from services.common.database import database_dsn, open_pool
from services.common.errors import Unavailable
from services.orchestrator.patients.fhir_loader import read_bundle_file
from services.orchestrator.patients.store import PatientStore
from tests.orchestrator.patients_support import POOL_SETTINGS, SHIPPED, fresh_database

SHIPPED_IDS = sorted(path.stem for path in SHIPPED.glob("pt-*.json"))
# A second process on the same data folder, standing in for the orchestrator.
LIST_IDS = """
import asyncio, json
from services.common.config import DatabaseSettings
from services.orchestrator.patients.store import open_patient_store

async def main():
    async with open_patient_store(DatabaseSettings()) as store:
        print(json.dumps(await store.list_ids()))

asyncio.run(main())
"""


async def run_python(args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """Runs ``python *args`` with ``env`` over a copy of os.environ without DATABASE_URL."""
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def seed_args(path: Path) -> list[str]:
    return ["-m", "services.orchestrator.patients.seed", str(path)]


@pytest.fixture(scope="module")
async def seeded_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded data folder seeded by the CLI in its own process, which has exited."""
    folder = tmp_path_factory.mktemp("seed-embedded") / "pg"
    code, out, err = await run_python(seed_args(SHIPPED), {"PG_DATA_DIR": str(folder)})
    assert code == 0, err
    assert (
        out.splitlines()[0] == f"loaded {len(SHIPPED_IDS)} patients from {len(SHIPPED_IDS)} files"
    )
    # The seed process was the only user: its exit stopped the server.
    assert not (folder / "postmaster.pid").exists()
    return folder


async def test_one_bad_file_among_good_ones_fails_the_run_but_loads_the_rest(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dsn = await fresh_database(tmp_path_factory)
    for name in ("pt-0001.json", "pt-0006.json", "pt-0012.json"):
        shutil.copy(SHIPPED / name, tmp_path / name)
    bad = json.loads((SHIPPED / "pt-0009.json").read_text())
    bad["entry"] = bad["entry"][1:]  # no Patient
    (tmp_path / "pt-0009-broken.json").write_text(json.dumps(bad))
    (tmp_path / "notes.txt").write_text("not a bundle, and not *.json")

    code, out, err = await run_python(seed_args(tmp_path), {"DATABASE_URL": dsn})
    assert code == 1, err
    assert out.splitlines() == [
        "loaded 3 patients from 3 files",
        "failed: 1 of 4",
        "  pt-0009-broken.json: no Patient resource",
    ]
    async with open_pool(dsn, POOL_SETTINGS) as pool:
        assert await PatientStore(pool).list_ids() == ["pt-0001", "pt-0006", "pt-0012"]

    code, out, _ = await run_python(seed_args(tmp_path / "pt-0006.json"), {"DATABASE_URL": dsn})
    assert (code, out) == (0, "loaded 1 patients from 1 files\n")


async def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (missing_code, _, missing_err), (empty_code, _, empty_err) = await asyncio.gather(
        run_python(seed_args(tmp_path / "missing"), {}),
        run_python(seed_args(tmp_path), {}),  # a folder without bundles
    )
    assert (missing_code, empty_code) == (2, 2)
    assert "no such file or folder" in missing_err
    assert "no *.json bundles" in empty_err


async def test_a_second_process_reads_what_the_seed_process_stored(seeded_folder: Path) -> None:
    code, out, err = await run_python(["-c", LIST_IDS], {"PG_DATA_DIR": str(seeded_folder)})
    assert code == 0, err
    assert json.loads(out) == SHIPPED_IDS
    assert not (seeded_folder / "postmaster.pid").exists()


async def _wait_until_stopped(pid: int) -> None:
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("PostgreSQL did not stop")


async def test_a_database_that_goes_down_is_unavailable(seeded_folder: Path) -> None:
    settings = DatabaseSettings(pg_data_dir=seeded_folder, pg_connect_timeout_s=2)
    async with database_dsn(settings) as dsn, open_pool(dsn, settings) as pool:
        store = PatientStore(pool)
        assert (await store.get("pt-0003")).patient_id == "pt-0003"
        postmaster = int((seeded_folder / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGINT)  # PostgreSQL's "fast" shutdown
        await _wait_until_stopped(postmaster)

        for call in (
            store.get("pt-0003"),
            store.exists("pt-0003"),
            store.list_ids(),
            store.upsert(read_bundle_file(SHIPPED / "pt-0003.json")),
        ):
            with pytest.raises(Unavailable) as caught:
                await call
            assert str(caught.value) == "patient database unavailable"
    with pytest.raises(Unavailable, match=r"^database unavailable$"):
        async with open_pool(dsn, settings):
            pass


async def test_an_unreachable_server_is_unavailable() -> None:
    # Nothing listens on port 1; a lazy pool (min_size 0) fails on first use, not at creation.
    dsn = "postgresql://postgres@127.0.0.1:1/postgres"
    lazy = DatabaseSettings(pg_pool_min_size=0, pg_connect_timeout_s=2)
    async with open_pool(dsn, lazy) as pool:
        with pytest.raises(Unavailable):
            await PatientStore(pool).get("pt-0001")
    with pytest.raises(Unavailable):
        async with open_pool(dsn, POOL_SETTINGS):
            pass
