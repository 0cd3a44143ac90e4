"""The local model's health check follows the model's own calls: no probe while they succeed,
unhealthy while one is stuck or after one failed, and healthy again once a forward pass works.

The real all-MiniLM-L6-v2 computes every vector; it sits behind a gate the test opens and closes
(a call waiting at the gate is a call running on the model thread) and can be told to fail.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from services.embedder.backends import local
from services.embedder.backends.base import EmbedItem, InputKind
from services.embedder.backends.local import LocalBackend, default_model_path


class GatedModel:
    """The real model, each encode waiting at a gate first, and failing while ``broken``."""

    def __init__(self, model: SentenceTransformer) -> None:
        self._model = model
        self.max_seq_length = model.max_seq_length
        self.gate = threading.Event()
        self.gate.set()
        self.broken = False
        self.calls = 0

    def get_embedding_dimension(self) -> int | None:
        return self._model.get_embedding_dimension()

    def encode(self, texts: list[str], **options: Any) -> npt.NDArray[np.float32]:
        self.calls += 1
        assert self.gate.wait(60), "the test never opened the gate"
        if self.broken:
            raise RuntimeError("the model failed")
        vectors: npt.NDArray[np.float32] = self._model.encode(texts, **options)
        return vectors


def _load() -> tuple[SentenceTransformer, Any]:
    path = str(default_model_path())
    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    return model, AutoTokenizer.from_pretrained(path, local_files_only=True)


async def test_the_model_health_follows_its_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    model, counter = await asyncio.to_thread(_load)
    gated = GatedModel(model)
    backend = LocalBackend(
        gated,  # type: ignore[arg-type]  # what LocalBackend uses of a SentenceTransformer
        counter,
        "gated",
        ThreadPoolExecutor(max_workers=1),
        ThreadPoolExecutor(max_workers=1),
    )
    item = EmbedItem("apixaban dose reduction", InputKind.QUERY, False, 5)
    try:
        await backend.warm_up()
        calls = gated.calls
        assert await backend.is_healthy()
        assert gated.calls == calls, "an idle model that last succeeded was probed"

        # A call running on the model thread: healthy, until it has run too long.
        monkeypatch.setattr(local, "STALLED_AFTER_S", 0.5)
        gated.gate.clear()
        running = asyncio.ensure_future(backend.embed([item]))
        await asyncio.sleep(0.1)
        assert await backend.is_healthy()
        await asyncio.sleep(0.5)
        assert not await backend.is_healthy(), "a stuck model call was not noticed"
        gated.gate.set()
        [embedded] = await running
        assert embedded.values.shape == (backend.dimension,)
        assert await backend.is_healthy()

        # A failed call: the check runs a forward pass, unhealthy while the model fails.
        gated.broken = True
        with pytest.raises(RuntimeError):
            await backend.embed([item])
        with pytest.raises(RuntimeError):
            await backend.is_healthy()
        gated.broken = False
        calls = gated.calls
        assert await backend.is_healthy()
        assert gated.calls == calls + 1  # the forward pass that found it working again
        assert await backend.is_healthy()
        assert gated.calls == calls + 1  # and no probe since
    finally:
        gated.gate.set()
        await backend.close()
