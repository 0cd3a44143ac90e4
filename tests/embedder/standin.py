"""A stand-in for Vertex AI's google.cloud.aiplatform.v1.PredictionService on loopback.

It speaks the real protobuf wire format (the SDK's own PredictRequest/PredictResponse types
behind a generic handler; the aiplatform package ships no servicer classes), answers Predict
with deterministic text-embedding-005-shaped predictions, records every request, and fails the
next calls with the status codes queued in ``failures``.
"""

from __future__ import annotations

import hashlib
from collections import deque

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

    def __init__(self) -> None:
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
                    response_serializer=ResponsePb.SerializeToString,
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
    ) -> object:
        self.requests.append(aiplatform_v1.PredictRequest.wrap(request))
        if self.failures:
            await context.abort(self.failures.popleft(), "Quota exceeded (stand-in)")
        parameters = json_format.MessageToDict(request.parameters)  # type: ignore[attr-defined]
        dimension = int(parameters.get("outputDimensionality", 768))
        response = ResponsePb(deployed_model_id="stand-in")
        for instance in request.instances:  # type: ignore[attr-defined]
            fields = json_format.MessageToDict(instance)
            content = str(fields["content"])
            prediction = {
                "embeddings": {
                    "values": standin_vector(content, str(fields["task_type"]), dimension),
                    "statistics": {"token_count": len(content.split()), "truncated": False},
                }
            }
            json_format.ParseDict(prediction, response.predictions.add())
        return response
