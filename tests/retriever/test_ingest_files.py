"""The ingest CLI isolates each file, streams large ones and resumes a killed run (issue 15)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from services.launcher import ServiceProcess
from services.retriever.client import RetrieverClient
from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.document import MAX_TITLE_CHARS, DocumentError
from services.retriever.ingest.markdown_parser import split_front_matter
from services.retriever.ingest.parsers import parse_file
from services.retriever.ingest.prepare import KEPT_CHUNKS, prepare_file
from tests.retriever.conftest import OFFLINE, ROOT, copy_guidelines, run_cli

# The finding's 386-byte file: nine levels of nine aliases, 9**9 strings once expanded.
BOMB = (
    "---\n"
    + "a0: &a0 [lol]\n"
    + "".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9))
    + "title: *a8\n---\n# Bomb\n\nBody.\n"
)
GOOD = "---\nid: {id}\ntitle: {title}\n---\n# {title}\n\nCheck potassium after an ACE inhibitor.\n"


def test_a_yaml_alias_bomb_is_refused_at_once() -> None:
    # Refused at the first alias, before anything is expanded.
    with pytest.raises(DocumentError, match=r"alias \(\*a0, line 3 of the file\)"):
        split_front_matter(BOMB)


@pytest.mark.parametrize(
    ("front_matter", "reason"),
    [
        (f"title: {'x' * (MAX_TITLE_CHARS + 1)}", "title is 301 characters long; the limit is 300"),
        ("title: {nested: mapping}", "title must be text, got dict"),
        ("title: T\ntopics: [" + ", ".join(["t"] * 51) + "]", "51 topics; the limit is 50"),
        ("title: T\n" + "# padding\n" * 2_000, "front matter is longer than 16384"),
    ],
)
def test_front_matter_is_bounded(tmp_path: Path, front_matter: str, reason: str) -> None:
    path = tmp_path / "doc.md"
    path.write_text(f"---\n{front_matter}\n---\n# T\n\nText.\n", encoding="utf-8")
    with pytest.raises(DocumentError, match=reason):
        parse_file(path)


def test_a_large_text_file_is_chunked_while_it_is_sent(tmp_path: Path, chunker: Chunker) -> None:
    path = tmp_path / "large.txt"
    sentence = "Metformin is continued while the eGFR stays above thirty millilitres. "
    paragraph = sentence * 12 + "\n\n"
    with path.open("w", encoding="utf-8") as file:
        file.write("A large guideline\n\n")
        while file.tell() < 5 * 2**20:
            file.write(paragraph)
    prepared = prepare_file(path, chunker)
    assert prepared.chunk_count > KEPT_CHUNKS
    # Made again as they are taken: a generator, never a list of them all.
    messages = prepared.messages()
    assert not isinstance(messages, list)
    indices = [message.source.chunk_index for message in messages]
    assert indices == list(range(prepared.chunk_count))
    first = next(prepared.messages())
    assert first.chunk_count == prepared.chunk_count
    assert first.source.title == "A large guideline"


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, chunker: Chunker) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("Title\n\n" + "text " * 1000, encoding="utf-8")
    with pytest.raises(DocumentError, match="the limit is 0 MiB"):
        prepare_file(path, chunker, max_bytes=1024)


async def test_a_yaml_bomb_between_good_files_is_skipped_and_the_rest_go_in(
    retriever: ServiceProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a-good.md").write_text(GOOD.format(id="bomb-a", title="Good A"), encoding="utf-8")
    (folder / "b-bomb.md").write_text(BOMB, encoding="utf-8")
    (folder / "c-good.md").write_text(GOOD.format(id="bomb-c", title="Good C"), encoding="utf-8")
    run = await run_cli(str(folder), env={"RETRIEVER_ADDR": retriever.address})
    assert run.code == 1, run.stderr
    assert "documents  2 (unchanged 0, written 2)" in run.stdout
    assert "skipped    1 file(s)" in run.stdout
    assert "b-bomb.md: front matter uses a YAML alias" in run.stdout
    async with RetrieverClient(retriever.address) as client:
        response = await client.search("potassium", document_ids=["bomb-a", "bomb-c"])
    assert {hit.source.document_id for hit in response.hits} == {"bomb-a", "bomb-c"}


async def test_a_killed_run_resumed_ends_with_the_exact_chunks(
    retriever: ServiceProcess, tmp_path: Path, chunker: Chunker
) -> None:
    names = (
        "ada-2025-glycemic-targets.md",
        "ada-2025-hypoglycemia.md",
        "ags-2023-beers-renal-dosing.md",
        "aha-acc-hfsa-2022-hf-gdmt.md",
    )
    paths = copy_guidelines(tmp_path / "docs", names)
    expected = sum(prepare_file(path, chunker).chunk_count for path in paths)
    async with RetrieverClient(retriever.address) as client:
        before = await client.collection_info()
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.retriever.ingest",
            str(tmp_path / "docs"),
            "--piece-chunks",
            "8",
            cwd=ROOT,
            env={**os.environ, **OFFLINE, "RETRIEVER_ADDR": retriever.address},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert cli.stderr is not None
        # Killed once the first pieces are stored, in the middle of the run.
        while True:
            line = await asyncio.wait_for(cli.stderr.readuntil(b"\r"), 240)
            done = line.decode().split("| ")[-1].split("/")[0].strip()
            if done.isdigit() and int(done) >= 8:
                break
        cli.send_signal(signal.SIGKILL)
        assert await cli.wait() == -signal.SIGKILL
        killed = await client.collection_info()
        assert before.points_count < killed.points_count < before.points_count + expected
        run = await run_cli(str(tmp_path / "docs"), env={"RETRIEVER_ADDR": retriever.address})
        assert run.code == 0, run.stderr
        assert "unchanged 0," not in run.stdout  # what was stored before the kill is kept
        after = await client.collection_info()
        assert after.points_count - before.points_count == expected
        assert after.documents_count - before.documents_count == len(names)
        again = await run_cli(str(tmp_path / "docs"), env={"RETRIEVER_ADDR": retriever.address})
        assert f"documents  {len(names)} (unchanged {len(names)}, written 0)" in again.stdout
        assert (await client.collection_info()).points_count == after.points_count
