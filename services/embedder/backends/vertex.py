"""Vertex AI text embeddings (text-embedding-005) through the async GAPIC PredictionService.

A batch from the batcher is split into Predict requests within the API's limits (250 texts and
20,000 tokens each; tokens are estimated from the text length, since the exact count only comes
back with the answer), sent with bounded concurrency, and retried with exponential backoff on
RESOURCE_EXHAUSTED and UNAVAILABLE by google.api_core's AsyncRetry.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from itertools import groupby
from typing import cast

import google.auth.exceptions
import numpy as np
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import AsyncRetry, if_exception_type
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1.services.prediction_service.transports.grpc_asyncio import (
    PredictionServiceGrpcAsyncIOTransport,
)
from google.protobuf import json_format, struct_pb2

from services.common.channels import create_channel
from services.common.config import ConfigError
from services.common.credentials import PLAINTEXT
from services.common.errors import InvalidArgument, ResourceExhausted, ServiceError, Unavailable
from services.embedder.backends.base import (
    Embedded,
    EmbeddingBackend,
    EmbedItem,
    InputKind,
    l2_normalise,
)
from services.embedder.config import EmbedderSettings

MAX_INSTANCES_PER_REQUEST = 250
MAX_TOKENS_PER_REQUEST = 20_000
# Token counts are estimates (about four characters per token in English); keep a margin so
# that a text denser than the estimate does not push a request over the real limit.
REQUEST_TOKEN_BUDGET = int(MAX_TOKENS_PER_REQUEST * 0.8)
CHARS_PER_TOKEN = 4.0
PREDICTION_SERVICE = "google.cloud.aiplatform.v1.PredictionService"
_TASK_TYPES = {InputKind.QUERY: "RETRIEVAL_QUERY", InputKind.DOCUMENT: "RETRIEVAL_DOCUMENT"}


def estimate_tokens(text: str) -> int:
    """A length-based token estimate for planning requests (Vertex counts exactly later)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def split_requests(items: Sequence[tuple[int, EmbedItem]]) -> list[list[tuple[int, EmbedItem]]]:
    """Consecutive groups within the instance and (estimated) token limits of one request."""
    requests: list[list[tuple[int, EmbedItem]]] = []
    current: list[tuple[int, EmbedItem]] = []
    tokens = 0
    for position, item in items:
        cost = item.token_count
        if current and (
            len(current) == MAX_INSTANCES_PER_REQUEST or tokens + cost > REQUEST_TOKEN_BUDGET
        ):
            requests.append(current)
            current, tokens = [], 0
        current.append((position, item))
        tokens += cost
    if current:
        requests.append(current)
    return requests


class VertexBackend(EmbeddingBackend):
    """text-embedding-005 (or another Vertex text-embedding model) over gRPC."""

    backend_name = "vertex"
    exact_token_counts = False

    def __init__(self, settings: EmbedderSettings) -> None:
        self.model_name = settings.vertex_model
        self.dimension = settings.vertex_dimension
        self.max_input_tokens = settings.vertex_max_input_tokens
        self.max_concurrent_batches = settings.vertex_concurrency
        self._endpoint = (
            f"projects/{settings.vertex_project}/locations/{settings.vertex_location}"
            f"/publishers/google/models/{settings.vertex_model}"
        )
        self._timeout_s = settings.vertex_timeout_s
        self._calls = asyncio.Semaphore(settings.vertex_concurrency)
        self._retry = AsyncRetry(
            predicate=if_exception_type(
                api_exceptions.ResourceExhausted, api_exceptions.ServiceUnavailable
            ),
            initial=settings.vertex_retry_initial_s,
            maximum=max(settings.vertex_retry_initial_s, 10.0),
            multiplier=2.0,
            timeout=settings.vertex_retry_deadline_s,
        )
        self._client = _make_client(settings)
        #: Predict calls sent, retries included (for GetModelInfo-style introspection and tests).
        self.predict_calls = 0

    async def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [estimate_tokens(text) for text in texts]

    async def embed(self, items: Sequence[EmbedItem]) -> list[Embedded]:
        results: list[Embedded | None] = [None] * len(items)
        # autoTruncate is per request, so texts that may be cut never share one with texts
        # that must not be.
        by_truncate = sorted(enumerate(items), key=lambda pair: pair[1].truncate)
        requests = [
            request
            for _, group in groupby(by_truncate, key=lambda pair: pair[1].truncate)
            for request in split_requests(list(group))
        ]
        answers = await asyncio.gather(*(self._predict(request) for request in requests))
        for request, embedded in zip(requests, answers, strict=True):
            for (position, _), one in zip(request, embedded, strict=True):
                results[position] = one
        return [one for one in results if one is not None]

    async def _predict(self, request: list[tuple[int, EmbedItem]]) -> list[Embedded]:
        instances = [
            json_format.ParseDict(
                {"content": item.text, "task_type": _TASK_TYPES[item.kind]}, struct_pb2.Value()
            )
            for _, item in request
        ]
        parameters = json_format.ParseDict(
            {"autoTruncate": request[0][1].truncate, "outputDimensionality": self.dimension},
            struct_pb2.Value(),
        )
        message = aiplatform_v1.PredictRequest.pb()(
            endpoint=self._endpoint, instances=instances, parameters=parameters
        )
        async with self._calls:
            try:
                response = await self._client.predict(
                    request=aiplatform_v1.PredictRequest.wrap(message),
                    retry=self._retry,
                    timeout=self._timeout_s,
                )
            except api_exceptions.GoogleAPICallError as exc:
                raise _translate(exc) from None
            except api_exceptions.RetryError as exc:
                raise _translate(exc.cause) from None
        return self._parse(response, len(request))

    def _parse(self, response: aiplatform_v1.PredictResponse, expected: int) -> list[Embedded]:
        predictions = aiplatform_v1.PredictResponse.pb(response).predictions
        if len(predictions) != expected:
            raise Unavailable(f"Vertex AI returned {len(predictions)} embeddings for {expected}")
        vectors, counts, truncated = [], [], []
        for prediction in predictions:
            embeddings = prediction.struct_value.fields["embeddings"].struct_value.fields
            vectors.append([value.number_value for value in embeddings["values"].list_value.values])
            statistics = embeddings["statistics"].struct_value.fields
            counts.append(int(statistics["token_count"].number_value))
            truncated.append(statistics["truncated"].bool_value)
        if any(len(vector) != self.dimension for vector in vectors):
            raise Unavailable(f"Vertex AI returned vectors of another size than {self.dimension}")
        matrix = l2_normalise(np.asarray(vectors, dtype=np.float32))
        return [
            Embedded(values=row.copy(), token_count=count, truncated=cut)
            for row, count, cut in zip(matrix, counts, truncated, strict=True)
        ]

    async def is_healthy(self) -> bool:
        """Whether the API endpoint can be reached: its channel connects (no call, no quota)."""
        # The async client's transport is always the grpc.aio one (made in _make_client).
        transport = cast(PredictionServiceGrpcAsyncIOTransport, self._client.transport)
        await transport.grpc_channel.channel_ready()
        return True

    async def warm_up(self) -> None:
        """Nothing to prepare: a call at start-up would only spend quota."""

    async def close(self) -> None:
        await self._client.transport.close()  # type: ignore[no-untyped-call]


def _make_client(settings: EmbedderSettings) -> aiplatform_v1.PredictionServiceAsyncClient:
    endpoint = settings.vertex_endpoint or f"{settings.vertex_location}-aiplatform.googleapis.com"
    if settings.vertex_insecure:
        # A plaintext channel (for a stand-in on loopback), whatever TLS the project's own
        # channels use; Google credentials are not used with it.
        channel = create_channel(endpoint, PREDICTION_SERVICE, {}, credentials=PLAINTEXT)
        transport = PredictionServiceGrpcAsyncIOTransport(host=endpoint, channel=channel)
        return aiplatform_v1.PredictionServiceAsyncClient(transport=transport)
    try:
        return aiplatform_v1.PredictionServiceAsyncClient(
            client_options=ClientOptions(api_endpoint=endpoint)
        )
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ConfigError(f"the vertex backend needs Google credentials: {exc}") from None


def _translate(error: Exception | None) -> ServiceError:
    """Vertex's failure as this service's error; Vertex's own message may quote the input."""
    if isinstance(error, api_exceptions.InvalidArgument):
        return InvalidArgument("Vertex AI rejected the texts (INVALID_ARGUMENT)")
    if isinstance(error, api_exceptions.ResourceExhausted):
        return ResourceExhausted("Vertex AI quota is exhausted; retry later")
    code = getattr(getattr(error, "grpc_status_code", None), "name", type(error).__name__)
    return Unavailable(f"Vertex AI failed ({code})")
