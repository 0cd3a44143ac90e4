"""Bearer tokens: JWTs verified offline with PyJWT against configured public keys.

A token is accepted only when it is signed, with an asymmetric algorithm the settings allow and
the key type matches, by a configured key (a PEM public key, or a JWKS file whose keys tokens
name by ``kid``); when its ``iss`` and ``aud`` are the configured ones; when ``exp`` (required),
``nbf`` and ``iat`` hold within the leeway; and when it names its subject (``sub``). Its scopes
come from ``scope`` (space-separated, OAuth 2.0) or ``scp`` (a list or a string).

Every refusal is a :class:`TokenRejected` whose message says which check failed and never
quotes the token or its claims.

A caller sends the same token on every call until it expires, and checking its signature costs
about a quarter of a millisecond on this machine's CPUs: a token that passed every check is
remembered (the most recent :data:`VERIFIED_TOKENS_KEPT`), and on its next use only its expiry
is checked again. Keys are read once, at start-up, so nothing remembered can go stale.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.common.config import ConfigError, SecuritySettings
from services.common.principal import Principal

_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
VERIFIED_TOKENS_KEPT = 4096


MISSING_TOKEN = "missing bearer token: send 'authorization: Bearer <JWT>'"


class TokenRejected(Exception):
    """A bearer token was missing or refused; the message says why and is safe to return."""


def bearer_token(authorization: str | None) -> str:
    """The token of an ``authorization`` value, ``Bearer <token>``; TokenRejected otherwise."""
    if authorization is None:
        raise TokenRejected(MISSING_TOKEN)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("malformed authorization: expected 'Bearer <JWT>'")
    return token.strip()


@dataclass(frozen=True)
class VerificationKey:
    """A public key and the algorithms a token signed by it may use."""

    key: Any
    algorithms: frozenset[str]


def algorithms_for(key: Any) -> frozenset[str]:
    """The asymmetric JWT algorithms that sign with a key of this type."""
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_CURVES:
        return frozenset({_EC_CURVES[key.curve.name]})
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset({"EdDSA"})
    return frozenset()


def _pem_key(path: Path, allowed: Collection[str]) -> VerificationKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"AUTH_JWT_PUBLIC_KEY_FILE={path}: not a PEM public key: {exc}") from None
    algorithms = algorithms_for(key) & frozenset(allowed)
    if not algorithms:
        raise ConfigError(
            f"AUTH_JWT_PUBLIC_KEY_FILE={path}: a {type(key).__name__} signs with none of "
            f"AUTH_ALGORITHMS ({', '.join(allowed)})"
        )
    return VerificationKey(key=key, algorithms=algorithms)


def _jwks_keys(path: Path, allowed: Collection[str]) -> dict[str | None, VerificationKey]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["keys"]
        keys = {}
        for entry in entries:
            jwk = jwt.PyJWK.from_dict(entry)
            usable = algorithms_for(jwk.key)
            if "alg" in entry:
                usable &= {entry["alg"]}
            algorithms = usable & frozenset(allowed)
            if algorithms:
                keys[jwk.key_id] = VerificationKey(key=jwk.key, algorithms=algorithms)
    except (OSError, ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(f"AUTH_JWKS_FILE={path}: not a usable JWKS: {exc}") from None
    if not keys:
        raise ConfigError(
            f"AUTH_JWKS_FILE={path}: no public key for AUTH_ALGORITHMS ({', '.join(allowed)})"
        )
    return keys


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    value = claims.get("scope")
    if value is None:
        value = claims.get("scp", "")
    words: Iterable[Any] = value.split() if isinstance(value, str) else value
    if not isinstance(words, list | tuple):
        return frozenset()
    return frozenset(word for word in words if isinstance(word, str))


class TokenVerifier:
    """Verifies bearer tokens (see the module docstring) into the principal they name."""

    def __init__(
        self,
        keys: Mapping[str | None, VerificationKey],
        issuer: str,
        audience: str,
        leeway_s: float,
    ) -> None:
        self._keys = dict(keys)
        self._algorithms = frozenset().union(*(key.algorithms for key in self._keys.values()))
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        # Only tokens that passed are cached (lru_cache does not keep exceptions).
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._check)

    @classmethod
    def from_settings(cls, settings: SecuritySettings) -> TokenVerifier | None:
        """The verifier the settings describe; None when auth is off. ConfigError if unusable."""
        if not settings.auth or settings.auth_issuer is None or settings.auth_audience is None:
            return None
        keys: dict[str | None, VerificationKey]
        if settings.auth_jwt_public_key_file is not None:
            keys = {None: _pem_key(settings.auth_jwt_public_key_file, settings.auth_algorithms)}
        else:
            assert settings.auth_jwks_file is not None
            keys = _jwks_keys(settings.auth_jwks_file, settings.auth_algorithms)
        return cls(keys, settings.auth_issuer, settings.auth_audience, settings.auth_leeway_s)

    def _key(self, header: Mapping[str, Any]) -> VerificationKey:
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            allowed = ", ".join(sorted(self._algorithms))
            raise TokenRejected(
                f"the bearer token's signature algorithm is not allowed (allowed: {allowed})"
            )
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None and len(self._keys) == 1:
            # One configured key (a PEM file, or a JWKS of one): a token need not name it.
            [key] = self._keys.values()
        if key is None or algorithm not in key.algorithms:
            raise TokenRejected("the bearer token is signed by an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        """The principal ``token`` names, or TokenRejected saying which check failed."""
        principal, expires_at = self._verified(token)
        if time.time() > expires_at + self._leeway_s:
            raise TokenRejected("the bearer token has expired")
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        """Every check of the module docstring; the principal and the token's expiry."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("the bearer token is malformed: not a signed JWT") from None
        key = self._key(header)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[header["alg"]],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("the bearer token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("the bearer token is not valid yet (nbf or iat)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(
                f"the bearer token has the wrong issuer (expected '{self._issuer}')"
            ) from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(
                f"the bearer token has the wrong audience (expected '{self._audience}')"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"the bearer token lacks the '{exc.claim}' claim") from None
        except jwt.PyJWTError as exc:
            # Malformed payload, bad iat, a key the algorithm cannot use, ...: the class says
            # which; pyjwt's messages may quote claims, so they are left out.
            raise TokenRejected(f"the bearer token is invalid ({type(exc).__name__})") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenRejected("the bearer token's 'sub' claim is not a non-empty string")
        principal = Principal(subject=subject, scopes=_scopes(claims), authenticated_by="token")
        return principal, float(claims["exp"])
