"""The kustomize the deployment tests render with: the release chosen per platform, checked."""

from __future__ import annotations

import pytest

from scripts import kustomize_install


@pytest.mark.parametrize(
    ("system", "machine", "asset"),
    [
        ("Linux", "x86_64", "kustomize_v5.5.0_linux_amd64.tar.gz"),
        ("Linux", "aarch64", "kustomize_v5.5.0_linux_arm64.tar.gz"),
        ("Darwin", "arm64", "kustomize_v5.5.0_darwin_arm64.tar.gz"),
        ("Darwin", "x86_64", "kustomize_v5.5.0_darwin_amd64.tar.gz"),
    ],
)
def test_kustomize_release_asset_per_platform(system: str, machine: str, asset: str) -> None:
    assert kustomize_install.release_asset(system, machine) == asset


def test_kustomize_checksum_is_read_for_the_asset_only() -> None:
    checksums = (
        "aaa  kustomize_v5.5.0_linux_arm64.tar.gz\nbbb  kustomize_v5.5.0_linux_amd64.tar.gz\n"
    )
    assert (
        kustomize_install.expected_digest(checksums, "kustomize_v5.5.0_linux_amd64.tar.gz") == "bbb"
    )
    with pytest.raises(SystemExit, match="does not list"):
        kustomize_install.expected_digest(checksums, "kustomize_v5.5.0_darwin_arm64.tar.gz")
