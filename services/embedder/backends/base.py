"""The small interface every embedding backend implements.

A backend counts tokens (exactly with the model's tokenizer, or by an estimate where the model
is remote) and embeds one batch per call; batching across requests, caching and validation
live above it, in the batcher and the servicer.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt


class InputKind(Enum):
    """What a text is for; remote models embed queries and documents differently."""

    QUERY = "query"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class EmbedItem:
    """One text to embed, with the token count the backend gave it before truncation."""

    text: str
    kind: InputKind
    truncate: bool
    token_count: int


@dataclass(frozen=True, slots=True)
class Embedded:
    """One text's L2-normalised vector and the tokens the model counted for it."""

    values: npt.NDArray[np.float32]
    token_count: int
    truncated: bool


class EmbeddingBackend(abc.ABC):
    """A model that turns batches of texts into vectors."""

    #: "local" or "vertex", reported by GetModelInfo.
    backend_name: str
    #: The model's name, e.g. "all-MiniLM-L6-v2".
    model_name: str
    #: Length of every vector.
    dimension: int
    #: Longest input, in model tokens, embedded without truncation.
    max_input_tokens: int
    #: Batches the backend can usefully run at once (1 for a local model on the CPU).
    max_concurrent_batches: int = 1
    #: False when count_tokens only estimates (a remote model counts exactly when it embeds).
    exact_token_counts: bool = True

    @abc.abstractmethod
    async def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text before truncation (exact, or an estimate for remote models)."""

    @abc.abstractmethod
    async def embed(self, items: Sequence[EmbedItem]) -> list[Embedded]:
        """Embeds one batch; vectors are L2-normalised, one per item, in order."""

    @abc.abstractmethod
    async def is_healthy(self) -> bool:
        """Whether the model answers now (the embedder's health check; bounded by the caller)."""

    @abc.abstractmethod
    async def warm_up(self) -> None:
        """Prepares the model so that the first real call is as fast as the later ones."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Releases threads, channels and models."""


def l2_normalise(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (rows of zeros stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: npt.NDArray[np.float32] = matrix / np.maximum(norms, np.float32(1e-12))
    return normalised
