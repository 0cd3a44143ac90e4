"""Makes sure a kustomize is available to render deploy/k8s (the deployment tests need one).

    python -m scripts.kustomize_install      # prints the command it will use; downloads if none

A ``kustomize`` or ``kubectl`` (which embeds kustomize) already on PATH is used as it is.
Otherwise the pinned kustomize release for this platform is downloaded from the project's
GitHub releases into ``.tools/bin/kustomize``, and its SHA-256 is checked against the
release's own ``checksums.txt`` before it is unpacked. Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import io
import platform
import shutil
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.5.0"
RELEASES = "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv{version}"
TOOLS_BIN = Path(__file__).resolve().parents[1] / ".tools" / "bin"
_SYSTEMS = {"Linux": "linux", "Darwin": "darwin"}
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def release_asset(system: str, machine: str, version: str = VERSION) -> str:
    """The release archive's file name for a platform (``platform.system()``/``machine()``)."""
    try:
        return f"kustomize_v{version}_{_SYSTEMS[system]}_{_MACHINES[machine.lower()]}.tar.gz"
    except KeyError:
        raise SystemExit(f"no kustomize release for {system} {machine}") from None


def expected_digest(checksums: str, asset: str) -> str:
    """The SHA-256 that ``checksums.txt`` (``<hex>  <file>`` lines) gives for ``asset``."""
    for line in checksums.splitlines():
        digest, _, name = line.strip().partition("  ")
        if name == asset:
            return digest
    raise SystemExit(f"checksums.txt of kustomize v{VERSION} does not list {asset}")


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data: bytes = response.read()
    return data


def install(target: Path = TOOLS_BIN) -> Path:
    """Downloads, checks and unpacks the pinned release into ``target``; returns the binary."""
    asset = release_asset(platform.system(), platform.machine())
    base = RELEASES.format(version=VERSION)
    archive = _download(f"{base}/{asset}")
    digest = hashlib.sha256(archive).hexdigest()
    if digest != expected_digest(_download(f"{base}/checksums.txt").decode(), asset):
        raise SystemExit(f"{asset}: SHA-256 {digest} does not match the release's checksums.txt")
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.getmember("kustomize")
        tar.extract(member, target, filter="data")
    binary = target / "kustomize"
    binary.chmod(0o755)
    return binary


def available() -> str | None:
    """The kustomize command already available, if any (PATH, then .tools/bin)."""
    for name in ("kustomize", "kubectl"):
        if shutil.which(name):
            return f"{name} build" if name == "kustomize" else "kubectl kustomize"
    local = TOOLS_BIN / "kustomize"
    return f"{local} build" if local.exists() else None


def main() -> int:
    command = available()
    if command is None:
        print(f"kustomize_install: downloading kustomize v{VERSION}", file=sys.stderr)
        command = f"{install()} build"
    print(f"kustomize_install: rendering with '{command}'", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
