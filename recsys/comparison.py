"""Honest comparison: a training config and the baselines, refitted on the warm and cold protocols."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.baselines import EASE, ItemKNN, Popularity, ServedModel, UntunedEncoder
from recsys.config import TrainConfig
from recsys.data import Dataset, dataset_fingerprint
from recsys.events import Callback, TrainEvent, as_stage, emit
from recsys.metrics import Metrics
from recsys.protocols import Split, cold_split, evaluate, warm_split
from recsys.storage import atomic_write_json, read_json

NO_FEEDBACK = pd.DataFrame(columns=["user_id", "item_id", "label"])
EASE_MAX_ITEMS = 30_000  # EASE inverts an (items x items) matrix: 7 GB in float64 at this size


def TunedScorer(text: np.ndarray, config: TrainConfig, cancel: threading.Event | None = None,  # noqa: N802
                callbacks: list[Callback] = ()) -> ServedModel:
    """The default model as a scorer: fit = a training run on the split's training part, then served."""
    def build(train: pd.DataFrame, item_ids: np.ndarray):
        from recsys.trainer import fit_adapter
        return fit_adapter(text, item_ids, train, NO_FEEDBACK, config, list(callbacks), cancel=cancel).model
    return ServedModel("tuned", build)


def splits(dataset: Dataset) -> list[Split]:
    return [warm_split(dataset.interactions), cold_split(dataset.interactions)]


def baseline_metrics(cache_dir: Path, dataset: Dataset, text: np.ndarray, k: int = 10) -> dict:
    """Popularity, ItemKNN, EASE and the untuned encoder on both protocols; cached per data fingerprint."""
    path = cache_dir / f"baselines-{dataset_fingerprint(dataset)}-k{k}.json"
    cached = read_json(path)
    if cached:
        return cached
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    out: dict[str, dict] = {}
    for split in splits(dataset):
        scorers = [Popularity(), ItemKNN(), EASE() if len(item_ids) <= EASE_MAX_ITEMS else None, UntunedEncoder(text)]
        out[split.name] = {s.name: evaluate(s, split, item_ids, k).to_dict() for s in scorers if s is not None}
    atomic_write_json(path, out)
    return out


def evaluate_config(cache_dir: Path, dataset: Dataset, text: np.ndarray, config: TrainConfig,
                    cancel: threading.Event | None = None, k: int = 10, callbacks: list[Callback] = ()) -> dict:
    """{'warm': {'tuned': Metrics dict, 'popularity': ...}, 'cold': {...}}.
    Progress goes to `callbacks` as stages 'evaluate: baselines', 'evaluate: warm', 'evaluate: cold'."""
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    callbacks = list(callbacks)
    emit(callbacks, TrainEvent("evaluate: baselines", 0, 1, None, "scoring the baselines (cached per data set)"))
    result = baseline_metrics(cache_dir, dataset, text, k)
    for split in splits(dataset):
        stage = f"evaluate: {split.name}"
        emit(callbacks, TrainEvent(stage, 0, 1, None, f"refitting on the {split.name} protocol"))
        tuned: Metrics = evaluate(TunedScorer(text, config, cancel, [as_stage(stage, callbacks)]), split, item_ids, k)
        result[split.name] = {"tuned": tuned.to_dict(), **result[split.name]}
    return result
