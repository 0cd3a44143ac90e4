"""Installs the CPU build of the torch pinned in pyproject.toml, and checks that it stayed.

    python -m scripts.torch_install show      # the pip command for this machine
    python -m scripts.torch_install install   # run it (before the rest of the dependencies)
    python -m scripts.torch_install check     # exit 1 unless the pinned CPU build is installed

Why: on Linux, PyPI's torch wheels are the CUDA builds and pull gigabytes of ``nvidia-*``
wheels. PyTorch publishes CPU builds on its own index, with a ``+cpu`` local version label that
PyPI cannot host, so pinning ``torch==X+cpu`` with that index as an *extra* index can only ever
install a CPU build (or fail, saying no such version exists). ``--no-deps`` keeps every other
package, torch's own dependencies included, on the usual index (they come with the project).
On macOS (arm64) PyPI's wheel is the CPU/MPS build and carries no label; PyTorch has published
no macOS x86_64 wheels since 2.2, so that platform is refused with a message.

pip treats an unreachable extra index as a warning (after its retries) and goes on with the
other sources, so a machine whose pip configuration provides the wheel (a ``find-links``
folder or a mirror) installs it from there.

Only the standard library is used: this runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Distributions that only a GPU build of torch brings in.
GPU_DISTRIBUTION = re.compile(r"^(nvidia-.*|triton|pytorch-triton.*)$")
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class UnsupportedPlatform(Exception):
    """No CPU build of the pinned torch is published for this operating system and processor."""


@dataclass(frozen=True)
class TorchSource:
    """What to ask pip for: the requirement and, on Linux, the index that serves CPU builds."""

    requirement: str
    extra_index_url: str | None = None

    def pip_arguments(self) -> list[str]:
        """The arguments after ``pip install``."""
        index = ["--extra-index-url", self.extra_index_url] if self.extra_index_url else []
        return ["--no-deps", *index, self.requirement]


def pinned_version(pins: Path = PYPROJECT) -> str:
    """The exact torch version pinned (``torch==X``) in ``pins``: pyproject.toml's
    dependencies, or a requirements file (the Dockerfile's, made from them)."""
    if pins.suffix == ".toml":
        with pins.open("rb") as file:
            dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    else:
        dependencies = [line.split("#", 1)[0] for line in pins.read_text().splitlines()]
    for dependency in dependencies:
        match = re.fullmatch(r"torch\s*==\s*([0-9][0-9A-Za-z.]*)", dependency.strip())
        if match:
            return match.group(1)
    raise ValueError(f"{pins} pins no torch version (expected a 'torch==X' dependency)")


def torch_source(system: str, machine: str, version: str) -> TorchSource:
    """Where the CPU build of torch ``version`` comes from on ``system``/``machine``.

    ``system`` and ``machine`` are what ``platform.system()`` and ``platform.machine()`` say.
    """
    arch = _MACHINES.get(machine.lower())
    os_name = system.lower()
    if os_name == "linux" and arch is not None:
        return TorchSource(f"torch=={version}+cpu", CPU_INDEX_URL)
    if os_name == "darwin" and arch == "aarch64":
        return TorchSource(f"torch=={version}")
    if os_name == "darwin" and arch == "x86_64":
        raise UnsupportedPlatform(
            f"torch {version} has no macOS x86_64 build (PyTorch stopped publishing them after "
            "2.2); use an Apple-silicon Mac, Linux, or the container image"
        )
    raise UnsupportedPlatform(
        f"no CPU build of torch {version} is set up for {system} {machine}; "
        "supported: Linux x86_64 and aarch64, macOS arm64"
    )


def build_problems(
    version: str,
    installed_version: str,
    cuda: str | None,
    hip: str | None,
    distributions: Iterable[str],
) -> list[str]:
    """What is wrong with the installed torch, given what it reports; empty when all is well.

    The check is the same on every platform: the pinned version (any local label), no CUDA or
    ROCm runtime compiled in, and no GPU runtime packages beside it.
    """
    problems = []
    if installed_version.split("+", 1)[0] != version:
        problems.append(f"torch {installed_version} is installed, not the pinned {version}")
    if cuda is not None:
        problems.append(f"torch {installed_version} is a CUDA build (CUDA {cuda})")
    if hip is not None:
        problems.append(f"torch {installed_version} is a ROCm build (HIP {hip})")
    gpu = sorted({name.lower() for name in distributions if GPU_DISTRIBUTION.match(name.lower())})
    if gpu:
        problems.append("GPU runtime packages are installed: " + ", ".join(gpu))
    return problems


def installed_build_problems(version: str) -> list[str]:
    """:func:`build_problems` for the torch importable by this interpreter."""
    try:
        import torch  # noqa: PLC0415  (not installed yet when the other commands run)
    except ImportError:
        return ["torch is not installed"]
    names = (dist.metadata["Name"] or "" for dist in importlib.metadata.distributions())
    return build_problems(
        version, torch.__version__, torch.version.cuda, torch.version.hip, list(names)
    )


def pip_command(source: TorchSource, python: str = sys.executable) -> list[str]:
    return [python, "-m", "pip", "install", *source.pip_arguments()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.torch_install", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["show", "install", "check"])
    parser.add_argument(
        "--pins",
        type=Path,
        default=PYPROJECT,
        help="where the torch version is pinned: pyproject.toml (default) or a requirements file",
    )
    args = parser.parse_args(argv)
    version = pinned_version(args.pins)
    if args.action == "check":
        problems = installed_build_problems(version)
        for problem in problems:
            print(f"torch_install: {problem}", file=sys.stderr)
        if problems:
            print("torch_install: remove .venv and run make install again", file=sys.stderr)
            return 1
        print(f"torch_install: the CPU build of torch {version} is installed")
        return 0
    try:
        source = torch_source(platform.system(), platform.machine(), version)
    except UnsupportedPlatform as exc:
        print(f"torch_install: {exc}", file=sys.stderr)
        return 2
    command = pip_command(source)
    print("torch_install: " + shlex.join(command), flush=True)
    if args.action == "install":
        return subprocess.run(command, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
