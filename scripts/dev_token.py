"""Mints a development bearer token (JWT) signed by a local development key: ``make token``.

    TOKEN=$(python -m scripts.dev_token --scopes "briefing:read guidelines:read")
    make -s token SCOPES="guidelines:write"

The key (ECDSA P-256, so ES256 tokens) is made on first use under var/dev-auth/
(``signing-key.pem``, readable by its owner only, and ``public-key.pem``); it is never
committed. The token goes to stdout, alone; stderr says which settings make the services accept
it (AUTH_JWT_PUBLIC_KEY_FILE, AUTH_ISSUER, AUTH_AUDIENCE). Default scopes: all of the project's.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.common.scopes import ALL_SCOPES

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEY_DIR = ROOT / "var" / "dev-auth"
DEV_ISSUER = "clinical-briefing-dev"
DEV_AUDIENCE = "clinical-briefing"
ALGORITHM = "ES256"


def signing_key(key_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development signing key in ``key_dir``, made (with its public key) on first use."""
    private_path, public_path = key_dir / "signing-key.pem", key_dir / "public-key.pem"
    if private_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{private_path} is not an ECDSA key; delete it to make a new one")
        return key
    key_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private_path.touch(mode=0o600)
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def mint(
    key: ec.EllipticCurvePrivateKey,
    scopes: Sequence[str],
    subject: str,
    ttl_s: int,
    *,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    """A token for ``subject`` holding ``scopes``, valid from now for ``ttl_s`` seconds."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dev_token", description=__doc__)
    parser.add_argument(
        "--scopes", default=" ".join(ALL_SCOPES), help="space-separated (default: all)"
    )
    parser.add_argument("--subject", default="dev-user", help="the caller's name (sub)")
    parser.add_argument("--ttl-s", type=int, default=3600, help="lifetime in seconds")
    parser.add_argument("--issuer", default=DEV_ISSUER)
    parser.add_argument("--audience", default=DEV_AUDIENCE)
    parser.add_argument("--key-dir", type=Path, default=DEFAULT_KEY_DIR)
    args = parser.parse_args(argv)
    if args.ttl_s <= 0:
        parser.error("--ttl-s must be positive")
    key = signing_key(args.key_dir)
    token = mint(
        key,
        args.scopes.split(),
        args.subject,
        args.ttl_s,
        issuer=args.issuer,
        audience=args.audience,
    )
    print(token)
    print(
        "services accept it with: "
        f"AUTH_JWT_PUBLIC_KEY_FILE={args.key_dir / 'public-key.pem'} "
        f"AUTH_ISSUER={args.issuer} AUTH_AUDIENCE={args.audience}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
