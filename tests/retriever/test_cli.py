"""The ingest CLI as a user runs it: a folder in, a summary out, broken files named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from services.launcher import ServiceProcess
from tests.retriever.conftest import GUIDELINES, open_folder_store, run_cli


async def test_cli_ingests_a_folder_through_a_running_retriever(
    retriever: ServiceProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(GUIDELINES / "kdigo-2024-ckd-anemia-mineral.html", folder)
    (folder / "memo.txt").write_text("Memo\nCheck potassium after starting an ACE inhibitor.\n")
    (folder / "ignored.csv").write_text("not,a,guideline\n")
    # One Ingest call per file: the bar moves as each is stored.
    run = await run_cli(
        str(folder), "--piece-chunks", "1", env={"RETRIEVER_ADDR": retriever.address}
    )
    assert run.code == 0, run.stderr
    assert "documents  2 (unchanged 0, written 2)" in run.stdout
    assert "skipped    0 file(s)" in run.stdout
    # The bar counts chunks the Retriever has stored, against those of the files prepared so far.
    chunks = int(re.search(r"chunks +(\d+)", run.stdout).group(1))  # type: ignore[union-attr]
    counts = [(int(n), int(t)) for n, t in re.findall(r"ingest: .*?\| (\d+)/(\d+) \[", run.stderr)]
    assert counts[-1] == (chunks, chunks)
    assert any(0 < done < chunks for done, _ in counts), counts
    again = await run_cli(str(folder), env={"RETRIEVER_ADDR": retriever.address})
    assert again.code == 0, again.stderr
    assert "documents  2 (unchanged 2, written 0)" in again.stdout


async def test_corrupt_pdf_is_named_the_rest_goes_in_and_exit_code_is_1(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(GUIDELINES / "kdigo-2022-diabetes-in-ckd.md", folder)
    (folder / "broken-scan.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage")
    qdrant = tmp_path / "qdrant"
    # No RETRIEVER_ADDR and no running launcher (not even a developer's `make run`): the CLI
    # starts its own embedder and retriever on this folder.
    run = await run_cli(
        str(folder),
        "--launcher-file",
        str(tmp_path / "no-launcher.json"),
        env={"RETRIEVER_QDRANT_PATH": str(qdrant)},
    )
    assert run.code == 1, run.stderr
    assert "starting an embedder and a retriever" in run.stderr
    assert "broken-scan.pdf" in run.stderr
    assert "not a readable PDF" in run.stderr
    assert "EOF marker not found" not in run.stderr  # pypdf's own warning stays quiet
    assert "documents  1 (unchanged 0, written 1)" in run.stdout
    assert "skipped    1 file(s)" in run.stdout
    # The services are gone (the folder lock is free): look at what was stored.
    store = open_folder_store(qdrant)
    try:
        stored = await store.count("kdigo-2022-diabetes-in-ckd")
        assert stored > 5
        assert (await store.info()).points_count == stored
    finally:
        await store.close()


async def test_cli_rejects_a_missing_folder(tmp_path: Path) -> None:
    run = await run_cli(str(tmp_path / "nope"), env={"RETRIEVER_ADDR": "127.0.0.1:1"})
    assert run.code == 2
    assert "no such file or folder" in run.stderr
