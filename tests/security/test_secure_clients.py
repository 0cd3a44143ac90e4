"""The clients of the secured stack keep working: the gateway over HTTPS passing the caller's
token on, the command-line client, grpcurl as the README shows it, and the container health
check, each with TLS (and a client certificate where the service asks for one)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from briefing.v1 import embedder_pb2, embedder_pb2_grpc

from services.launcher import ServiceProcess, start_service, tls_env
from tests.orchestrator.brief_support import RICH_ID
from tests.security.conftest import SecureStack, run_cli
from tests.security.support import Pki, TokenMint
from tests.support.vertex_standin import VertexStandIn

GRPCURL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "grpcurl"


@pytest.fixture(scope="module")
async def gateway(secure_stack: SecureStack, pki: Pki) -> AsyncIterator[ServiceProcess]:
    env = {
        **secure_stack.env,
        **tls_env(pki.folder, "orchestrator.gateway"),
        "ORCHESTRATOR_ADDR": secure_stack.address("orchestrator"),
    }
    process = await start_service("orchestrator.gateway", env)
    yield process
    await process.stop()


@pytest.fixture
async def https(pki: Pki) -> AsyncIterator[aiohttp.ClientSession]:
    context = ssl.create_default_context(cafile=pki.ca)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        yield session


async def _post(
    session: aiohttp.ClientSession, gateway: ServiceProcess, token: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"https://{gateway.address}/api/v1/patients/{RICH_ID}/briefing"
    async with session.post(url, headers=headers) as response:
        return response.status, await response.json()


async def test_the_gateway_passes_the_callers_token_on(
    gateway: ServiceProcess, https: aiohttp.ClientSession, mint: TokenMint
) -> None:
    status, body = await _post(https, gateway, mint.token("briefing:read"))
    assert status == 200, body
    assert body["patient_id"] == RICH_ID


async def test_the_orchestrator_judges_the_scope_of_the_passed_token(
    gateway: ServiceProcess, https: aiohttp.ClientSession, mint: TokenMint
) -> None:
    status, body = await _post(https, gateway, mint.token("guidelines:read"))
    assert status == 403
    assert body["error"] == {
        "code": "PERMISSION_DENIED",
        "message": "/briefing.v1.Orchestrator/Brief needs the scope 'briefing:read', which "
        "the caller's credentials do not grant",
    }


@pytest.mark.parametrize(
    ("case", "message"), [("none", "missing bearer token"), ("expired", "has expired")]
)
async def test_the_gateway_answers_401_without_a_good_token(
    case: str,
    message: str,
    gateway: ServiceProcess,
    https: aiohttp.ClientSession,
    mint: TokenMint,
) -> None:
    token = None if case == "none" else mint.token("briefing:read", exp=1)
    status, body = await _post(https, gateway, token)
    assert status == 401
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert message in body["error"]["message"]


async def test_the_gateway_speaks_https_only(gateway: ServiceProcess) -> None:
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(aiohttp.ClientError):
            await plain.get(f"http://{gateway.address}/healthz")


async def test_the_gateway_health_is_open(
    gateway: ServiceProcess, https: aiohttp.ClientSession
) -> None:
    async with https.get(f"https://{gateway.address}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["orchestrator"] == "SERVING"


async def test_the_command_line_client_sends_its_token_over_tls(
    secure_stack: SecureStack, pki: Pki, mint: TokenMint
) -> None:
    env = {"TLS_CA_FILE": str(pki.ca), "AUTH_TOKEN": mint.token("briefing:read")}
    address = secure_stack.address("orchestrator")
    args = ("services.orchestrator.client", "brief", RICH_ID, "--json", "--addr", address)
    code, output = await run_cli(env, *args)
    assert code == 0, output
    assert json.loads(output[output.index("{") :])["patient_id"] == RICH_ID


@pytest.mark.parametrize("service", ["retriever", "orchestrator"])
async def test_the_container_health_check_probes_over_tls(
    service: str, secure_stack: SecureStack, pki: Pki
) -> None:
    port = secure_stack.address(service).rsplit(":", 1)[1]
    env = {
        **secure_stack.env,
        **pki.env(service),
        f"{service.upper()}_PORT": port,
    }
    code, output = await run_cli(env, f"services.{service}", "--check-health")
    assert code == 0, output


async def _grpcurl(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_grpcurl_works_as_the_readme_shows(
    secure_stack: SecureStack, pki: Pki, mint: TokenMint
) -> None:
    tls = ("-cacert", str(pki.ca))
    mtls = (*tls, "-cert", str(pki.cert("client")), "-key", str(pki.key("client")))
    bearer = ("-H", f"authorization: Bearer {mint.token('briefing:read guidelines:read')}")
    code, output = await _grpcurl(*tls, secure_stack.address("orchestrator"), "list")
    assert code == 0 and "briefing.v1.Orchestrator" in output, output
    code, output = await _grpcurl(
        *tls,
        *bearer,
        "-d",
        f'{{"patient_id": "{RICH_ID}"}}',
        secure_stack.address("orchestrator"),
        "briefing.v1.Orchestrator/Brief",
    )
    assert code == 0 and RICH_ID in output, output
    code, output = await _grpcurl(
        *mtls,
        *bearer,
        "-d",
        '{"query": "apixaban dose", "limit": 1}',
        secure_stack.address("retriever"),
        "briefing.v1.Retriever/Search",
    )
    assert code == 0 and '"hits"' in output, output
    code, output = await _grpcurl(*tls, *bearer, secure_stack.address("retriever"), "list")
    assert code != 0  # no client certificate: the retriever ends the handshake


async def test_a_secured_embedder_still_reaches_a_plaintext_vertex_standin(
    pki: Pki, mint: TokenMint
) -> None:
    """EMBEDDER_VERTEX_INSECURE keeps its channel plaintext while the service speaks TLS."""
    standin = VertexStandIn()
    await standin.start()
    env = {
        **pki.env("embedder"),
        **mint.env(),
        "EMBEDDER_BACKEND": "vertex",
        "EMBEDDER_VERTEX_PROJECT": "test-project",
        "EMBEDDER_VERTEX_ENDPOINT": standin.address,
        "EMBEDDER_VERTEX_INSECURE": "true",
    }
    service = await start_service("embedder", env)
    try:
        channel = grpc.aio.secure_channel(service.address, pki.channel_credentials("retriever"))
        async with channel:
            response = await embedder_pb2_grpc.EmbedderStub(channel).Embed(
                embedder_pb2.EmbedRequest(
                    texts=["apixaban"], input_type=embedder_pb2.INPUT_TYPE_QUERY
                ),
                timeout=30,
            )
        assert len(response.embeddings) == 1
        assert len(standin.requests) == 1
    finally:
        await service.stop()
        await standin.stop()
