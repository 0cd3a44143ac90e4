"""Reads docker-compose.yml: the services that run this project's image, their variables, and
those variables as a container sees them, with each path inside a volume mounted from the host
turned into the host file (so that the settings can open it in a test)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+:?-?[^}]*\}")

Spec = dict[str, Any]


@cache
def services() -> dict[str, Spec]:
    """Every compose service, by name."""
    loaded: dict[str, Spec] = yaml.safe_load(COMPOSE.read_text())["services"]
    return loaded


@cache
def ours() -> dict[str, Spec]:
    """The compose services that run this project's image, by service name."""
    return {
        name: spec
        for name, spec in services().items()
        if "clinical-briefing" in str(spec.get("image", ""))
    }


def environment(spec: Spec) -> dict[str, str]:
    """The service's variables; a ``${VAR:-}`` from the shell becomes a stand-in value."""
    return {
        name: INTERPOLATION.sub("stand-in", str(value))
        for name, value in (spec.get("environment") or {}).items()
    }


def host_mounts(spec: Spec, host_root: Path) -> list[tuple[str, Path]]:
    """(path in the container, host path) of each volume mounted from the project folder, with
    the project folder at ``host_root``."""
    mounts = []
    for volume in spec.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            mounts.append((target, host_root / source[2:]))
    return mounts


def env_files(spec: Spec, host_root: Path) -> list[Path]:
    """The service's ``env_file`` files, in the project folder at ``host_root``."""
    declared = spec.get("env_file") or []
    names = [declared] if isinstance(declared, str) else declared
    return [host_root / str(name).removeprefix("./") for name in names]


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines, as compose reads an env_file (blank lines and # comments skipped,
    the value taken as it is)."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value
    return variables


def as_mounted(spec: Spec, host_root: Path) -> dict[str, str]:
    """The service's variables as its container gets them from the project folder at
    ``host_root``: its ``env_file`` ones, then its ``environment`` over them; each path inside a
    mounted volume turned into the host path mounted there."""
    variables: dict[str, str] = {}
    for path in env_files(spec, host_root):
        variables.update(read_env_file(path))
    variables.update(environment(spec))
    mounts = host_mounts(spec, host_root)
    for name, value in variables.items():
        for target, source in mounts:
            if value == target or value.startswith(target + "/"):
                variables[name] = str(source) + value[len(target) :]
    return variables
