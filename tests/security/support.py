"""Test-time keys, certificates and tokens, good and bad; nothing here is ever committed.

:class:`Pki` lays a CA and one certificate per program out as ``python -m scripts.dev_ca``
does (it uses the script's own functions, which use trustme), so ``services.launcher`` can give
each service its own identity. :class:`TokenMint` signs tokens with an RSA key made at test
time and forges the bad ones the services must refuse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.utils import base64url_encode

from scripts import dev_ca

ISSUER = "https://idp.test/realms/hospital"
AUDIENCE = "clinical-briefing-test"


@dataclass(frozen=True)
class Pki:
    """A CA and certificates in ``folder``: ``ca.pem``, ``NAME.pem``, ``NAME-key.pem``."""

    folder: Path

    @classmethod
    def create(cls, folder: Path, names: tuple[str, ...] = dev_ca.NAMES) -> Pki:
        ca = dev_ca.load_or_create_ca(folder)
        for name in names:
            dev_ca.issue(ca, folder, name)
        return cls(folder)

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}-key.pem"

    def env(self, name: str) -> dict[str, str]:
        """TLS_* for a program using identity ``name``."""
        return {
            "TLS_CERT_FILE": str(self.cert(name)),
            "TLS_KEY_FILE": str(self.key(name)),
            "TLS_CA_FILE": str(self.ca),
        }

    def channel_credentials(self, name: str | None = "client") -> grpc.ChannelCredentials:
        """TLS trusting this CA, presenting certificate ``name`` (None: no client cert)."""
        if name is None:
            return grpc.ssl_channel_credentials(self.ca.read_bytes())
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(), self.key(name).read_bytes(), self.cert(name).read_bytes()
        )


def _segment(data: Mapping[str, Any]) -> str:
    return base64url_encode(json.dumps(data, separators=(",", ":")).encode()).decode()


class TokenMint:
    """Signs test tokens with an RSA key; its public key is written to ``folder``."""

    def __init__(self, folder: Path) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_file = folder / "token-public-key.pem"
        self.public_key_file.write_bytes(self.public_pem)

    def env(self) -> dict[str, str]:
        """AUTH_* that make a program accept this mint's good tokens."""
        return {
            "AUTH_JWT_PUBLIC_KEY_FILE": str(self.public_key_file),
            "AUTH_ISSUER": ISSUER,
            "AUTH_AUDIENCE": AUDIENCE,
        }

    def claims(self, scopes: str = "", **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "dr-test",
            "scope": scopes,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        claims.update(changes)
        return claims

    def sign(self, claims: Mapping[str, Any]) -> str:
        """``claims`` signed with RS256 by this mint's key."""
        return jwt.encode(dict(claims), self._key, algorithm="RS256")

    def token(self, scopes: str = "", **changes: Any) -> str:
        """A good token (``changes`` override claims)."""
        return self.sign(self.claims(scopes, **changes))

    def unsigned(self, scopes: str) -> str:
        """``alg: none``: claims any scope, signed by nobody."""
        return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(self.claims(scopes))}."

    def hs256_with_public_key(self, scopes: str) -> str:
        """HS256 keyed with the public key: the algorithm-confusion forgery."""
        signing_input = (
            f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(self.claims(scopes))}"
        )
        signature = hmac.new(self.public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64url_encode(signature).decode()}"

    def tampered(self, scopes: str) -> str:
        """A good token whose claims were changed after signing (a scope added)."""
        header, _, signature = self.token("").split(".")
        return f"{header}.{_segment(self.claims(scopes))}.{signature}"


@dataclass(frozen=True)
class BadToken:
    """A way a caller can fail to authenticate, and what the refusal must say."""

    name: str
    authorization: Callable[[TokenMint, str], str | None]  # (mint, scope) -> metadata value
    message: str


BAD_TOKENS = (
    BadToken("no token", lambda mint, scope: None, "missing bearer token"),
    BadToken("malformed", lambda mint, scope: "Bearer not.a-jwt", "malformed"),
    BadToken(
        "expired",
        lambda mint, scope: f"Bearer {mint.token(scope, exp=int(time.time()) - 3600)}",
        "has expired",
    ),
    BadToken(
        "not yet valid",
        lambda mint, scope: f"Bearer {mint.token(scope, nbf=int(time.time()) + 3600)}",
        "not valid yet",
    ),
    BadToken(
        "wrong issuer",
        lambda mint, scope: f"Bearer {mint.token(scope, iss='https://elsewhere.test')}",
        "wrong issuer",
    ),
    BadToken(
        "wrong audience",
        lambda mint, scope: f"Bearer {mint.token(scope, aud='another-service')}",
        "wrong audience",
    ),
    BadToken(
        "tampered signature",
        lambda mint, scope: f"Bearer {mint.tampered(scope)}",
        "signature does not verify",
    ),
    BadToken("alg none", lambda mint, scope: f"Bearer {mint.unsigned(scope)}", "not allowed"),
    BadToken(
        "HS256 with the public key",
        lambda mint, scope: f"Bearer {mint.hs256_with_public_key(scope)}",
        "not allowed",
    ),
)
