"""Reads the Dockerfile: its instructions by stage, its CMD and its HEALTHCHECK."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]

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


def image_command() -> list[str]:
    """The image's CMD."""
    runtime = stages()["runtime"]
    [cmd] = [item["value"] for item in runtime if item["instruction"] == "CMD"]
    command: list[str] = json.loads(cmd)
    return command


def image_health_check() -> list[str]:
    """The command of the image's HEALTHCHECK (exec form)."""
    runtime = stages()["runtime"]
    healthcheck = runtime[index(runtime, "HEALTHCHECK", "CMD")]["value"]
    command: list[str] = json.loads(healthcheck.split("CMD", 1)[1])
    return command


def index(stage: list[Instruction], instruction: str, contains: str) -> int:
    found = [
        i
        for i, item in enumerate(stage)
        if item["instruction"] == instruction and contains in item["value"]
    ]
    assert len(found) == 1, f"expected one {instruction} with {contains!r}, found {len(found)}"
    return found[0]
