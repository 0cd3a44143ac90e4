"""A development certificate authority: a CA and one certificate per program, for TLS and mTLS.

    python -m scripts.dev_ca                 # var/dev-ca/
    python -m scripts.dev_ca --out DIR --host briefing.example.test --renew

Writes ``ca.pem`` (the bundle for TLS_CA_FILE) and, for each of the embedder, retriever,
orchestrator, gateway and ``client`` (an operator's identity for grpcurl and the ingest CLI),
``NAME.pem`` and ``NAME-key.pem`` (TLS_CERT_FILE, TLS_KEY_FILE): common name NAME, valid for
NAME, localhost, 127.0.0.1 and ::1 (plus any ``--host``), for both server and client use. The
common name is the identity AUTH_CERTIFICATE_SCOPES maps to scopes. The CA is made on the first
run and reused after, so certificates issued later still chain to it; existing certificates are
kept unless ``--renew``. Keys are written readable by their owner only. For development and
test deployments only: a production deployment takes its certificates from its own PKI.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "var" / "dev-ca"
NAMES = ("embedder", "retriever", "orchestrator", "gateway", "client")
VALIDITY = datetime.timedelta(days=365)


def _write_key(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def load_or_create_ca(out: Path) -> trustme.CA:
    """The CA in ``out`` (ca.pem, ca-key.pem), made on first use."""
    cert, key = out / "ca.pem", out / "ca-key.pem"
    if cert.exists() and key.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    out.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="clinical-briefing development CA")
    _write_key(key, ca.private_key_pem.bytes())
    cert.write_bytes(ca.cert_pem.bytes())
    return ca


def issue(ca: trustme.CA, out: Path, name: str, hosts: Sequence[str] = ()) -> tuple[Path, Path]:
    """Writes ``NAME.pem`` and ``NAME-key.pem`` for ``name``; returns their paths."""
    now = datetime.datetime.now(datetime.UTC)
    leaf = ca.issue_cert(
        name,
        "localhost",
        "127.0.0.1",
        "::1",
        *hosts,
        common_name=name,
        organization_name="clinical-briefing",
        not_before=now - datetime.timedelta(minutes=5),
        not_after=now + VALIDITY,
    )
    cert_path, key_path = out / f"{name}.pem", out / f"{name}-key.pem"
    _write_key(key_path, leaf.private_key_pem.bytes())
    cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return cert_path, key_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.dev_ca", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder (var/dev-ca)")
    parser.add_argument("--name", action="append", help="certificates to issue (default: all)")
    parser.add_argument("--host", action="append", default=[], help="extra name or address")
    parser.add_argument("--renew", action="store_true", help="issue again what exists")
    args = parser.parse_args(argv)
    ca = load_or_create_ca(args.out)
    for name in args.name or NAMES:
        if (args.out / f"{name}.pem").exists() and not args.renew:
            print(f"kept    {args.out / name}.pem", file=sys.stderr)
            continue
        cert, _ = issue(ca, args.out, name, args.host)
        print(f"issued  {cert}", file=sys.stderr)
    print(f"CA bundle (TLS_CA_FILE): {args.out / 'ca.pem'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
