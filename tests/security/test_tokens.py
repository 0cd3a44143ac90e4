"""Bearer token verification (services.common.tokens), one failure mode per test."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from services.common.config import ConfigError, SecuritySettings, load_settings
from services.common.tokens import TokenRejected, TokenVerifier, bearer_token
from tests.security.support import AUDIENCE, BAD_TOKENS, ISSUER, BadToken, TokenMint


@pytest.fixture(scope="module")
def verifier(mint: TokenMint) -> TokenVerifier:
    built = TokenVerifier.from_settings(load_settings(SecuritySettings, **_lower(mint.env())))
    assert built is not None
    return built


def _lower(env: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in env.items()}


def test_a_good_token_names_its_subject_and_scopes(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    principal = verifier.verify(mint.token("briefing:read guidelines:read"))
    assert principal.subject == "dr-test"
    assert principal.scopes == {"briefing:read", "guidelines:read"}
    assert principal.authenticated_by == "token"


def test_scopes_may_come_as_a_scp_list(mint: TokenMint, verifier: TokenVerifier) -> None:
    claims = mint.claims()
    del claims["scope"]
    token = mint.sign({**claims, "scp": ["embeddings", "audit:read"]})
    assert verifier.verify(token).scopes == {"embeddings", "audit:read"}


@pytest.mark.parametrize(
    "bad", [b for b in BAD_TOKENS if b.name != "no token"], ids=lambda bad: bad.name
)
def test_each_bad_token_is_refused_saying_why(
    bad: BadToken, mint: TokenMint, verifier: TokenVerifier
) -> None:
    authorization = bad.authorization(mint, "briefing:read")
    assert authorization is not None
    token = bearer_token(authorization)
    with pytest.raises(TokenRejected) as refused:
        verifier.verify(token)
    assert bad.message in str(refused.value)
    assert token not in str(refused.value)
    assert all(part not in str(refused.value) for part in token.split(".") if len(part) > 8)


def test_within_the_leeway_an_expired_token_still_passes(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    verifier.verify(mint.token("briefing:read", exp=int(time.time()) - 5))  # leeway: 30 s


@pytest.mark.parametrize("claim", ["exp", "sub", "iss", "aud"])
def test_a_token_without_a_required_claim_is_refused(
    claim: str, mint: TokenMint, verifier: TokenVerifier
) -> None:
    claims = mint.claims("briefing:read")
    del claims[claim]
    token = mint.sign(claims)
    with pytest.raises(TokenRejected, match=f"lacks the '{claim}' claim"):
        verifier.verify(token)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [(None, "missing bearer token"), ("Basic dXNlcjpwdw==", "malformed"), ("Bearer ", "malformed")],
)
def test_the_authorization_value_must_be_bearer(authorization: str | None, message: str) -> None:
    with pytest.raises(TokenRejected, match=message):
        bearer_token(authorization)


def test_a_token_from_another_key_of_the_same_kind_does_not_verify(
    tmp_path: Path, verifier: TokenVerifier
) -> None:
    other = TokenMint(tmp_path)
    with pytest.raises(TokenRejected, match="signature does not verify"):
        verifier.verify(other.token("briefing:read"))


def test_a_jwks_file_verifies_tokens_by_their_kid(tmp_path: Path, mint: TokenMint) -> None:
    first, second = ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()
    keys = [
        {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(first.public_key())), "kid": "k1"},
        {**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(second.public_key())), "kid": "k2"},
    ]
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": keys}))
    settings = SecuritySettings(
        auth_jwks_file=jwks,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_algorithms=["ES256", "EdDSA"],
    )
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    claims = mint.claims("embeddings")
    by_second = jwt.encode(claims, second, algorithm="EdDSA", headers={"kid": "k2"})
    assert verifier.verify(by_second).scopes == {"embeddings"}
    # Signed by the second key but naming the first: the first key cannot check EdDSA.
    misnamed = jwt.encode(claims, second, algorithm="EdDSA", headers={"kid": "k1"})
    with pytest.raises(TokenRejected, match="unknown key"):
        verifier.verify(misnamed)
    unnamed = jwt.encode(claims, first, algorithm="ES256")
    with pytest.raises(TokenRejected, match="unknown key"):
        verifier.verify(unnamed)


def test_an_algorithm_the_key_cannot_use_is_refused(mint: TokenMint) -> None:
    """The PEM key is RSA: ES256, although configured, cannot be verified with it."""
    settings = load_settings(
        SecuritySettings, **_lower(mint.env()), auth_algorithms=["RS256", "ES256"]
    )
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    token = jwt.encode(mint.claims("x"), ec.generate_private_key(ec.SECP256R1()), "ES256")
    with pytest.raises(TokenRejected, match="not allowed"):
        verifier.verify(token)


def test_symmetric_algorithms_cannot_be_configured(mint: TokenMint) -> None:
    with pytest.raises(ConfigError, match=r"AUTH_ALGORITHMS=.*not asymmetric: HS256"):
        load_settings(SecuritySettings, **_lower(mint.env()), auth_algorithms="RS256,HS256")


def test_a_key_that_signs_with_no_configured_algorithm_stops_start_up(mint: TokenMint) -> None:
    settings = load_settings(SecuritySettings, **_lower(mint.env()), auth_algorithms=["ES256"])
    with pytest.raises(ConfigError, match=r"AUTH_JWT_PUBLIC_KEY_FILE=.*signs with none of"):
        TokenVerifier.from_settings(settings)


def test_auth_needs_issuer_and_audience(mint: TokenMint) -> None:
    with pytest.raises(ConfigError, match=r"AUTH_ISSUER=None: .*required") as error:
        load_settings(SecuritySettings, auth_jwt_public_key_file=mint.public_key_file)
    assert "AUTH_AUDIENCE" in str(error.value)


async def test_a_remembered_token_is_refused_once_it_expires(mint: TokenMint) -> None:
    settings = load_settings(SecuritySettings, **_lower(mint.env()), auth_leeway_s=0)
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    expires_at = int(time.time()) + 1
    token = mint.token("briefing:read", exp=expires_at)
    assert verifier.verify(token).scopes == {"briefing:read"}  # checked in full, remembered
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 1.05)
    with pytest.raises(TokenRejected, match="has expired"):
        verifier.verify(token)
