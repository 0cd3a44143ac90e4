"""scripts/torch_install.py: which torch build each platform gets, and the check after install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scripts import torch_install
from scripts.torch_install import (
    CPU_INDEX_URL,
    TorchSource,
    UnsupportedPlatform,
    build_problems,
    pinned_version,
    torch_source,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("Linux", "x86_64", TorchSource("torch==2.13.0+cpu", CPU_INDEX_URL)),
        ("Linux", "aarch64", TorchSource("torch==2.13.0+cpu", CPU_INDEX_URL)),
        ("Linux", "arm64", TorchSource("torch==2.13.0+cpu", CPU_INDEX_URL)),
        ("Darwin", "arm64", TorchSource("torch==2.13.0")),
    ],
)
def test_each_platform_gets_a_cpu_build(system: str, machine: str, expected: TorchSource) -> None:
    assert torch_source(system, machine, "2.13.0") == expected


def test_linux_asks_pip_for_the_labelled_cpu_build_from_the_extra_index_only() -> None:
    arguments = torch_source("Linux", "x86_64", "2.13.0").pip_arguments()
    # The +cpu label exists only on PyTorch's CPU index (PyPI cannot host local versions), and
    # the index is an extra one: an unreachable index is skipped, not fatal.
    assert arguments == ["--no-deps", "--extra-index-url", CPU_INDEX_URL, "torch==2.13.0+cpu"]
    assert "--index-url" not in arguments


def test_macos_uses_the_default_index() -> None:
    assert torch_source("Darwin", "arm64", "2.13.0").pip_arguments() == [
        "--no-deps",
        "torch==2.13.0",
    ]


@pytest.mark.parametrize(
    ("system", "machine", "says"),
    [
        ("Darwin", "x86_64", "no macOS x86_64 build"),
        ("Windows", "AMD64", "Windows AMD64"),
        ("Linux", "ppc64le", "Linux ppc64le"),
    ],
)
def test_unsupported_platforms_are_refused_by_name(system: str, machine: str, says: str) -> None:
    with pytest.raises(UnsupportedPlatform, match=says):
        torch_source(system, machine, "2.13.0")


def test_the_version_is_the_one_pyproject_pins(tmp_path: Path) -> None:
    assert pinned_version() == "2.13.0"  # pyproject.toml's torch==2.13.0
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\ndependencies = ["numpy==2.0", "torch == 9.1.2"]\n')
    assert pinned_version(other) == "9.1.2"
    other.write_text('[project]\ndependencies = ["torch>=2"]\n')
    with pytest.raises(ValueError, match="pins no torch version"):
        pinned_version(other)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.0\ntorch==2.13.0  # the CPU build\n")
    assert pinned_version(requirements) == "2.13.0"


def test_a_cpu_build_passes_on_every_platform() -> None:
    assert build_problems("2.13.0", "2.13.0+cpu", None, None, ["numpy", "sympy"]) == []
    assert build_problems("2.13.0", "2.13.0", None, None, ["numpy"]) == []  # macOS: no label


def test_a_cuda_build_and_its_runtime_packages_fail() -> None:
    problems = build_problems(
        "2.13.0", "2.13.0", "12.8", None, ["nvidia-cublas-cu12", "Triton", "numpy"]
    )
    assert problems == [
        "torch 2.13.0 is a CUDA build (CUDA 12.8)",
        "GPU runtime packages are installed: nvidia-cublas-cu12, triton",
    ]


def test_a_rocm_build_and_another_version_fail() -> None:
    assert build_problems("2.13.0", "2.14.1+rocm6.4", None, "6.4", []) == [
        "torch 2.14.1+rocm6.4 is installed, not the pinned 2.13.0",
        "torch 2.14.1+rocm6.4 is a ROCm build (HIP 6.4)",
    ]


def test_the_installed_torch_passes_the_check() -> None:
    assert torch.version.cuda is None
    assert torch_install.installed_build_problems(pinned_version()) == []
    completed = subprocess.run(
        [sys.executable, "-m", "scripts.torch_install", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "the CPU build of torch 2.13.0 is installed" in completed.stdout


def test_show_prints_the_pip_command_for_this_machine() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "scripts.torch_install", "show"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.startswith("torch_install: ")
    assert "-m pip install --no-deps" in completed.stdout
    assert "torch==2.13.0" in completed.stdout
