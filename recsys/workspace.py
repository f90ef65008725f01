"""A workspace is one folder per dataset: imported data, model versions, the feedback ledger and job status."""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys.data import Dataset, ImportReport
from recsys.errors import RecTuneError
from recsys.storage import atomic_write_json, read_json, recover_folder, replace_folder

_VERSION = re.compile(r"^v(\d{4,})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModelVersion:
    """One immutable trained model: its folder holds config.json, metrics.json, weights.safetensors."""

    name: str
    path: Path
    created: float
    active: bool
    kind: str
    metrics: dict


class Workspace:
    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root)
        if not self.root.exists():
            if not create:
                raise RecTuneError(f"{self.root}: no workspace there; import data first (recsys train --interactions ...).")
            self.root.mkdir(parents=True)
        recover_folder(self.data_dir)
        for tmp in self.models_dir.glob(".v*"):  # a version whose write was cut short is never listed
            shutil.rmtree(tmp, ignore_errors=True)

    data_dir = property(lambda self: self.root / "data")
    models_dir = property(lambda self: self.root / "models")
    ledger_path = property(lambda self: self.root / "feedback.sqlite")
    job_path = property(lambda self: self.root / "job.json")
    cache_dir = property(lambda self: self.root / "cache")
    name = property(lambda self: self.root.name)

    def has_data(self) -> bool:
        return (self.data_dir / "interactions.parquet").exists()

    def save_dataset(self, dataset: Dataset, sources: dict[str, str] | None = None) -> None:
        def fill(tmp: Path) -> None:
            dataset.interactions.to_parquet(tmp / "interactions.parquet", index=False)
            dataset.items.to_parquet(tmp / "items.parquet", index=False)
            atomic_write_json(tmp / "import_report.json", dataset.report.to_dict())
            atomic_write_json(tmp / "sources.json", sources or {})
        replace_folder(self.data_dir, fill)

    def load_dataset(self) -> Dataset:
        if not self.has_data():
            raise RecTuneError(f"workspace '{self.name}' has no data yet; import a log and a catalog first.")
        report = read_json(self.data_dir / "import_report.json", {})
        report["warnings"] = tuple(report.get("warnings", ()))
        return Dataset(pd.read_parquet(self.data_dir / "interactions.parquet"),
                       pd.read_parquet(self.data_dir / "items.parquet"), ImportReport(**report))

    def report(self) -> ImportReport | None:
        data = read_json(self.data_dir / "import_report.json")
        return ImportReport(**{**data, "warnings": tuple(data.get("warnings", ()))}) if data else None

    # --- model versions -------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        active = self.active_name()
        out = []
        for path in sorted(self.models_dir.glob("v*")):
            if _VERSION.match(path.name) and (path / "config.json").exists():
                config = read_json(path / "config.json", {})
                out.append(ModelVersion(path.name, path, path.stat().st_mtime, path.name == active,
                                        str(config.get("kind", "?")), read_json(path / "metrics.json", {}) or {}))
        return out

    def active_name(self) -> str | None:
        name = (read_json(self.root / "active.json", {}) or {}).get("version")
        return name if name and (self.models_dir / name / "config.json").exists() else None

    def active_version(self) -> ModelVersion | None:
        return next((v for v in self.versions() if v.active), None)

    def activate(self, name: str) -> None:
        if not (self.models_dir / name / "config.json").exists():
            known = ", ".join(v.name for v in self.versions()) or "none"
            raise RecTuneError(f"no model version '{name}' in workspace '{self.name}' (versions: {known}).")
        atomic_write_json(self.root / "active.json", {"version": name, "at": time.time()})

    def write_version(self, fill) -> str:
        """Create the next version folder with `fill(tmp_path)`; it appears (and activates) only when complete."""
        self.models_dir.mkdir(exist_ok=True)
        numbers = [int(m.group(1)) for p in self.models_dir.iterdir() if (m := _VERSION.match(p.name))]
        name = f"v{max(numbers, default=0) + 1:04d}"
        replace_folder(self.models_dir / name, fill)
        self.activate(name)
        return name


def list_workspaces(home: str | Path) -> list[str]:
    home = Path(home)
    return sorted(p.name for p in home.iterdir() if p.is_dir() and _NAME.match(p.name)) if home.exists() else []


def workspace_path(home: str | Path, name: str) -> Path:
    """The folder of workspace `name` under `home`; refuses names that could escape it."""
    if not _NAME.match(name or "") or ".." in name:
        raise RecTuneError(f"workspace name '{name}' is not allowed; use letters, digits, '-', '_' or '.'.")
    return Path(home) / name
