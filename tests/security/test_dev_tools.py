"""The development token (``make token``) and certificate authority (``scripts.dev_ca``)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from scripts import dev_ca, dev_token
from services.common.config import SecuritySettings
from services.common.tokens import TokenVerifier


def _mint(capsys: pytest.CaptureFixture[str], key_dir: Path, *args: str) -> str:
    assert dev_token.main(["--key-dir", str(key_dir), *args]) == 0
    out, err = capsys.readouterr()
    assert f"AUTH_JWT_PUBLIC_KEY_FILE={key_dir / 'public-key.pem'}" in err
    return out.strip()


def test_make_token_mints_a_token_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _mint(capsys, tmp_path, "--scopes", "briefing:read audit:read", "--subject", "dr-a")
    settings = SecuritySettings(
        auth_jwt_public_key_file=tmp_path / "public-key.pem",
        auth_issuer=dev_token.DEV_ISSUER,
        auth_audience=dev_token.DEV_AUDIENCE,
    )
    verifier = TokenVerifier.from_settings(settings)
    assert verifier is not None
    principal = verifier.verify(token)
    assert principal.subject == "dr-a"
    assert principal.scopes == {"briefing:read", "audit:read"}


def test_the_development_key_is_made_once_and_kept_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _mint(capsys, tmp_path)
    public = (tmp_path / "public-key.pem").read_bytes()
    assert stat.S_IMODE((tmp_path / "signing-key.pem").stat().st_mode) == 0o600
    _mint(capsys, tmp_path)
    assert (tmp_path / "public-key.pem").read_bytes() == public


def test_the_dev_ca_issues_a_certificate_per_program(tmp_path: Path) -> None:
    assert dev_ca.main(["--out", str(tmp_path), "--host", "briefing.example.test"]) == 0
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    for name in dev_ca.NAMES:
        cert = x509.load_pem_x509_certificate((tmp_path / f"{name}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        common_name = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert common_name == name
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {name, "localhost", "briefing.example.test"} <= set(
            names.get_values_for_type(x509.DNSName)
        )
        assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usage)
        assert stat.S_IMODE((tmp_path / f"{name}-key.pem").stat().st_mode) == 0o600


def test_the_dev_ca_keeps_its_ca_and_renews_on_request(tmp_path: Path) -> None:
    dev_ca.main(["--out", str(tmp_path), "--name", "embedder"])
    ca, cert = (tmp_path / "ca.pem").read_bytes(), (tmp_path / "embedder.pem").read_bytes()
    dev_ca.main(["--out", str(tmp_path), "--name", "embedder"])
    assert (tmp_path / "embedder.pem").read_bytes() == cert
    dev_ca.main(["--out", str(tmp_path), "--name", "embedder", "--renew"])
    renewed = (tmp_path / "embedder.pem").read_bytes()
    assert renewed != cert
    assert (tmp_path / "ca.pem").read_bytes() == ca
    x509.load_pem_x509_certificate(renewed).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca)
    )
