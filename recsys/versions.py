"""The model-version folder format, owned here alone.

models/vNNNN/ holds config.json (TrainConfig fields + kind, encoder_key, previous_version), metrics.json,
weights.safetensors + item_ids.txt (serving.py), feedback_seen.csv, data.json (data fingerprint) and, when the
encoder itself was tuned, encoder/. A version is built in a hidden folder of its own and renamed into place, so
readers never see a partial one; active.json names the one that serves."""
from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recsys.config import TrainConfig
from recsys.errors import RecTuneError
from recsys.storage import atomic_write_json, read_json, unique_token

CONFIG, METRICS, DATA, ACTIVE = "config.json", "metrics.json", "data.json", "active.json"
FEEDBACK_SEEN, ENCODER_DIR = "feedback_seen.csv", "encoder"
_VERSION = re.compile(r"^v(\d{4,})$")
_BUILDING = re.compile(r"^\.v\d{4,}\.")  # hidden folders of versions being written (or cut short by a crash)


def is_version_name(name: str) -> bool:
    return bool(_VERSION.match(str(name)))


@dataclass(frozen=True)
class VersionMetrics:
    """metrics.json, typed. evaluation: {'warm'|'cold': {'tuned'|baseline name: Metrics dict}}."""

    validation_ndcg: float | None = None
    epochs: float | None = None
    stopped_by: str = ""
    train_examples: int | None = None
    train_examples_per_s: float | None = None
    final_loss: float | None = None
    feedback_seen: int = 0
    seconds: float | None = None
    evaluation: dict = field(default_factory=dict)
    feedback_report: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # e.g. encoder tuning and drift figures

    @classmethod
    def from_dict(cls, data: dict) -> VersionMetrics:
        data = dict(data or {})
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__ and k != "extra"}
        if "validation_ndcg@10" in data:
            known["validation_ndcg"] = data.pop("validation_ndcg@10")
        return cls(**known, extra={**data.pop("extra", {}), **data})

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("extra", "validation_ndcg")}
        return {**self.extra, **out, "validation_ndcg@10": self.validation_ndcg}

    def evaluated(self, protocol: str, model: str = "tuned", metric: str = "ndcg") -> float | None:
        return (self.evaluation.get(protocol, {}).get(model) or {}).get(metric)


@dataclass(frozen=True)
class ModelVersion:
    """One immutable model version, read from its folder."""

    name: str
    path: Path
    created: float
    active: bool
    config: dict  # config.json as saved; `train_config()` gives the typed settings
    metrics: VersionMetrics

    @property
    def kind(self) -> str:
        return str(self.config.get("kind", "?"))

    @property
    def label(self) -> str:
        """What the version is, for tables: its kind, or what a quick update was made from."""
        if self.config.get("round") == "quick":
            return f"quick update of {self.config.get('previous_version', '?')}"
        return self.kind

    @property
    def encoder_model(self) -> str:
        return str(self.config.get("encoder_model", TrainConfig().encoder_model))

    @property
    def encoder_key(self) -> str:
        return str(self.config.get("encoder_key", ""))

    def train_config(self) -> TrainConfig:
        """The settings this version was trained with (an untuned version: the defaults for its encoder)."""
        if self.kind == "untuned":
            return TrainConfig(encoder_model=self.encoder_model)
        return TrainConfig.from_saved(self.config)


class VersionStore:
    """The versions under `<workspace>/models` and the active pointer. Writers call `write` under the
    workspace's write lock (workspace.py); reading needs no lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "models"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [p.name for p in self.folder.iterdir() if is_version_name(p.name) and (p / CONFIG).exists()]
        return sorted(found, key=lambda n: int(n[1:]))

    def get(self, name: str) -> ModelVersion:
        path = self.folder / name
        if not is_version_name(name) or not (path / CONFIG).exists():
            raise RecTuneError(f"no model version '{name}' in workspace '{self.root.name}' "
                               f"(versions: {', '.join(self.names()) or 'none'}).")
        return ModelVersion(name, path, path.stat().st_mtime, name == self.active_name(),
                            read_json(path / CONFIG, {}) or {}, VersionMetrics.from_dict(read_json(path / METRICS, {})))

    def all(self) -> list[ModelVersion]:
        out = []
        for name in self.names():
            try:
                out.append(self.get(name))
            except (RecTuneError, FileNotFoundError):
                continue  # removed between listing and reading
        return out

    def active_name(self) -> str | None:
        name = (read_json(self.root / ACTIVE, {}) or {}).get("version")
        return name if name and is_version_name(name) and (self.folder / name / CONFIG).exists() else None

    def active(self) -> ModelVersion | None:
        name = self.active_name()
        return self.get(name) if name else None

    def activate(self, name: str) -> None:
        self.get(name)  # refuses unknown names
        atomic_write_json(self.root / ACTIVE, {"version": name, "at": time.time()})

    def write(self, fill: Callable[[Path], None], activate: bool = True) -> str:
        """Build the next version with `fill(folder)` in a hidden folder of this writer's own, then rename it
        into place. Call under the workspace's write lock (numbers are picked there)."""
        self.folder.mkdir(exist_ok=True)
        numbers = [int(p.name[1:]) for p in self.folder.iterdir() if is_version_name(p.name)]
        name = f"v{max(numbers, default=0) + 1:04d}"
        tmp = self.folder / f".{name}.{unique_token()}"
        tmp.mkdir()
        try:
            fill(tmp)
            tmp.rename(self.folder / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if activate:
            self.activate(name)
        return name

    def update_metrics(self, name: str, **changes) -> None:
        """Add results computed later (e.g. an evaluation) to a version's metrics.json."""
        path = self.folder / name / METRICS
        atomic_write_json(path, {**(read_json(path, {}) or {}), **changes})

    def remove_leftovers(self) -> None:
        """Hidden folders of writes cut short. Only under the write lock: a live writer holds it."""
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if _BUILDING.match(path.name):
                    shutil.rmtree(path, ignore_errors=True)


def seen_thumbs(folder: Path):
    """The thumbs (current labels) a version was trained on, as a DataFrame of strings; None if it saw none."""
    import pandas as pd
    path = folder / FEEDBACK_SEEN
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None


def write_version_files(folder: Path, config: dict, metrics: dict, data: dict) -> None:
    atomic_write_json(folder / CONFIG, config)
    atomic_write_json(folder / METRICS, metrics)
    atomic_write_json(folder / DATA, data)
