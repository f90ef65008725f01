"""Honest comparison: a training config and the baselines, refitted on the warm and cold protocols."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from recsys.baselines import EASE, ItemKNN, Popularity, UntunedEncoder
from recsys.data import Dataset
from recsys.evaluate import Metrics, Split, cold_split, evaluate, warm_split
from recsys.storage import atomic_write_json, read_json
from recsys.training import Callback, TrainConfig, TrainEvent, emit, user_sequences
from recsys.workspace import Workspace

NO_FEEDBACK = pd.DataFrame(columns=["user_id", "item_id", "label"])


class TunedScorer:
    """The default model as a Scorer: fit = a training run on the split's training part."""

    name = "tuned"

    def __init__(self, text: np.ndarray, config: TrainConfig, cancel: threading.Event | None = None,
                 callbacks: list[Callback] = ()) -> None:
        self.text, self.config, self.cancel, self.callbacks = text, config, cancel, list(callbacks)

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None:
        from recsys.trainer import fit_adapter
        self.model = fit_adapter(self.text, item_ids, train, NO_FEEDBACK, self.config, self.callbacks,
                                 cancel=self.cancel).model
        self.sequences = user_sequences(train, item_ids)

    def score(self, user_ids: list[str]) -> np.ndarray:
        empty = np.zeros(0, dtype=np.int64)
        users = np.stack([self.model.user_vector(self.sequences.get(u, empty)) for u in user_ids])
        return users @ self.model.item_out.T + self.model.item_bias


def _as_stage(stage: str, callbacks: list[Callback]) -> Callback:
    """Training events of an evaluation refit, shown as one stage of the round (their losses stay out of its
    loss curve)."""
    def relay(event: TrainEvent) -> None:
        emit(callbacks, TrainEvent(stage, event.step, event.total, None, event.message))
    return relay


def splits(dataset: Dataset) -> list[Split]:
    return [warm_split(dataset.interactions), cold_split(dataset.interactions)]


def baseline_metrics(ws: Workspace, dataset: Dataset, text: np.ndarray, fingerprint: str, k: int = 10) -> dict:
    """Popularity, ItemKNN, EASE and the untuned encoder on both protocols; cached per data fingerprint."""
    path = ws.cache_dir / f"baselines-{fingerprint}-k{k}.json"
    cached = read_json(path)
    if cached:
        return cached
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    out: dict[str, dict] = {}
    for split in splits(dataset):
        scorers = [Popularity(), ItemKNN(), _ease_for(len(item_ids)), UntunedEncoder(text)]
        out[split.name] = {s.name: evaluate(s, split, item_ids, k).to_dict() for s in scorers if s is not None}
    atomic_write_json(path, out)
    return out


def _ease_for(n_items: int):
    """EASE inverts an (items x items) matrix: skipped past 30k items (7 GB in float64)."""
    return EASE() if n_items <= 30_000 else None


def evaluate_config(ws: Workspace, dataset: Dataset, text: np.ndarray, config: TrainConfig,
                    cancel: threading.Event | None = None, k: int = 10, callbacks: list[Callback] = ()) -> dict:
    """{'warm': {'tuned': Metrics, 'popularity': ...}, 'cold': {...}} as plain dicts.
    Progress goes to `callbacks` as stages 'evaluate: baselines', 'evaluate: warm', 'evaluate: cold'."""
    from recsys.pipeline import data_fingerprint
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    emit(callbacks, TrainEvent("evaluate: baselines", 0, 1, None, "scoring the baselines (cached per data set)"))
    result = baseline_metrics(ws, dataset, text, data_fingerprint(dataset), k)
    for split in splits(dataset):
        stage = f"evaluate: {split.name}"
        emit(callbacks, TrainEvent(stage, 0, 1, None, f"refitting on the {split.name} protocol"))
        relabel = [_as_stage(stage, callbacks)]
        tuned: Metrics = evaluate(TunedScorer(text, config, cancel, relabel), split, item_ids, k)
        result[split.name] = {"tuned": tuned.to_dict(), **result[split.name]}
    return result
