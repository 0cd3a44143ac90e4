"""A stand-in for Vertex AI's google.cloud.aiplatform.v1.PredictionService on loopback.

It speaks the real protobuf wire format (the SDK's own PredictRequest/PredictResponse types
behind a generic handler; the aiplatform package ships no servicer classes), answers Predict
with deterministic text-embedding-005-shaped predictions, records every request, and fails the
next calls with the status codes queued in ``failures``. ``latency_s`` makes every answer take
that long, like the remote service (the agent benchmark's I/O-bound tool turn).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any

import grpc
import numpy as np
from google.cloud import aiplatform_v1
from google.protobuf import json_format

SERVICE = "google.cloud.aiplatform.v1.PredictionService"
RequestPb = aiplatform_v1.PredictRequest.pb()
ResponsePb = aiplatform_v1.PredictResponse.pb()


def standin_vector(content: str, task_type: str, dimension: int) -> list[float]:
    """The (unnormalised) vector the stand-in gives a text; the same for the same input."""
    seed = int.from_bytes(hashlib.sha256(f"{task_type}\n{content}".encode()).digest()[:8])
    values: list[float] = (np.random.default_rng(seed).standard_normal(dimension) * 3).tolist()
    return values


class VertexStandIn:
    """Records Predict requests; answers them or fails them as told."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.requests: list[aiplatform_v1.PredictRequest] = []
        self.failures: deque[grpc.StatusCode] = deque()
        self.address = ""
        self._server: grpc.aio.Server | None = None

    async def start(self) -> str:
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Predict": grpc.unary_unary_rpc_method_handler(
                    self._predict,
                    request_deserializer=RequestPb.FromString,
                    response_serializer=bytes,  # _predict serialises while it waits
                )
            },
        )
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)

    def instances(self) -> list[list[dict[str, object]]]:
        """Each recorded request's instances, as JSON-like dicts."""
        return [
            [
                json_format.MessageToDict(value)
                for value in aiplatform_v1.PredictRequest.pb(r).instances
            ]
            for r in self.requests
        ]

    async def _predict(
        self, request: object, context: grpc.aio.ServicerContext[object, object]
    ) -> bytes:
        self.requests.append(aiplatform_v1.PredictRequest.wrap(request))
        answer_at = asyncio.get_running_loop().time() + self.latency_s
        response: bytes = self._response(request).SerializeToString()
        # The answer comes latency_s after the request, however long building it took.
        await asyncio.sleep(answer_at - asyncio.get_running_loop().time())
        if self.failures:
            await context.abort(self.failures.popleft(), "Quota exceeded (stand-in)")
        return response

    @staticmethod
    def _response(request: Any) -> Any:
        parameters = request.parameters.struct_value.fields
        dimension = int(parameters["outputDimensionality"].number_value or 768)
        response = ResponsePb(deployed_model_id="stand-in")
        # Built field by field: 0.4 ms per 768-value vector, against 1 ms with ParseDict.
        for instance in request.instances:
            fields = instance.struct_value.fields
            content = fields["content"].string_value
            vector = standin_vector(content, fields["task_type"].string_value, dimension)
            embeddings = response.predictions.add().struct_value.fields["embeddings"].struct_value
            embeddings.fields["values"].list_value.extend(vector)
            statistics = embeddings.fields["statistics"].struct_value
            statistics.fields["token_count"].number_value = len(content.split())
            statistics.fields["truncated"].bool_value = False
        return response
