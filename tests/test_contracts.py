"""The generated code in gen/ matches the contracts in protos/ (run `make proto` when not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--mypy_grpc_out={tmp_path}",
            *protos,
        ],
        cwd=ROOT / "protos",
        check=True,
        env=env,
        capture_output=True,
    )
    fresh = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*.py*")}
    committed = {
        p.relative_to(ROOT / "gen"): p.read_text()
        for p in (ROOT / "gen").rglob("*.py*")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    assert fresh.keys() == committed.keys(), "gen/ lists other files than protos/ produces"
    stale = sorted(str(path) for path, text in fresh.items() if committed[path] != text)
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_generated_package_imports_without_path_edits() -> None:
    code = "from briefing.v1 import orchestrator_pb2_grpc, retriever_pb2_grpc, embedder_pb2_grpc"
    subprocess.run([sys.executable, "-c", code], cwd="/", check=True)
