"""Loads FHIR R4 Bundles into the patient database (``make seed``).

    python -m services.orchestrator.patients.seed data/patients        # every *.json in it
    python -m services.orchestrator.patients.seed data/patients/pt-0001.json

Uses ``DATABASE_URL`` or else the embedded server in ``PG_DATA_DIR``. Each bundle
is stored in its own transaction, or not at all. Prints a summary; the exit code is 1 if any
file failed (the good ones are still loaded), 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.common.config import ConfigError, DatabaseSettings, load_settings
from services.common.errors import InvalidArgument, ServiceError
from services.orchestrator.patients.fhir_loader import BundleError, read_bundle_file
from services.orchestrator.patients.store import PatientStore, open_patient_store


@dataclass
class SeedReport:
    """What a seed run did: patient id per loaded file, problem per failed file."""

    loaded: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        patients = set(self.loaded.values())
        lines = [f"loaded {len(patients)} patients from {len(self.loaded)} files"]
        by_patient: dict[str, list[str]] = {}
        for file_name, patient_id in self.loaded.items():
            by_patient.setdefault(patient_id, []).append(file_name)
        for patient_id, files in sorted(by_patient.items()):
            if len(files) > 1:
                lines.append(f"note: {patient_id} is in {', '.join(files)}; the last one stays")
        if self.failures:
            lines.append(f"failed: {len(self.failures)} of {len(self.failures) + len(self.loaded)}")
            lines.extend(f"  {problem}" for problem in self.failures.values())
        return "\n".join(lines)


def bundle_files(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else the ``*.json`` files in it, sorted by name."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.glob("*.json"))
    raise FileNotFoundError(f"no such file or folder: {path}")


async def load_files(store: PatientStore, files: Sequence[Path]) -> SeedReport:
    """Loads each file; a bad bundle is recorded and skipped, an unreachable database raises."""
    report = SeedReport()
    for path in files:
        try:
            record = await asyncio.to_thread(read_bundle_file, path)
            await store.upsert(record)
        except BundleError as exc:
            report.failures[path.name] = str(exc)
            continue
        except InvalidArgument as exc:
            report.failures[path.name] = f"{path.name}: {exc}"
            continue
        report.loaded[path.name] = record.patient_id
    return report


async def seed(path: Path, settings: DatabaseSettings) -> SeedReport:
    files = bundle_files(path)
    if not files:
        raise FileNotFoundError(f"no *.json bundles in {path}")
    async with open_patient_store(settings) as store:
        return await load_files(store, files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.orchestrator.patients.seed",
        description="Load FHIR R4 Bundles into the patient database.",
    )
    parser.add_argument("path", type=Path, help="a bundle file, or a folder of *.json bundles")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(DatabaseSettings)
        report = asyncio.run(seed(args.path, settings))
    except (ConfigError, FileNotFoundError) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
