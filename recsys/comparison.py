"""Honest comparison: a training config and the baselines, refitted on the warm and cold protocols."""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.baselines import (
    EASE,
    EASE_MAX_ITEMS,
    ITEMKNN_MAX_ITEMS,
    SASREC_MAX_ITEMS,
    ItemKNN,
    Popularity,
    SASRec,
    ServedModel,
    UntunedEncoder,
)
from recsys.config import ALIGNING, TrainConfig
from recsys.data import Dataset, dataset_fingerprint
from recsys.events import Callback, TrainEvent, as_stage, emit
from recsys.metrics import Metrics
from recsys.positives import rule_from_config
from recsys.protocols import Split, cold_split, evaluate, warm_split
from recsys.storage import atomic_write_json, read_json

NO_FEEDBACK = pd.DataFrame(columns=["user_id", "item_id", "label"])
BASELINES_VERSION = 3  # cached baseline scores are kept per version (3: SASRec with one item table, 200 slots)
FROZEN_ROW = "tuned, frozen encoder"  # an aligning config's own fit, its new items placed by the frozen encoder


def TunedScorer(text: np.ndarray, config: TrainConfig, cancel: threading.Event | None = None,  # noqa: N802
                callbacks: list[Callback] = (), encoder=None, texts: list[str] | None = None) -> ServedModel:
    """The default model as a scorer: fit = a training run on the split's training part, then served. The run's
    validation users are kept on the scorer (`val_users`) for a second stage fitted over it. An aligning config
    ('align' / 'auto') aligns `encoder` on the same part and places the part's unseen items with it."""
    scorer = ServedModel("tuned", None)

    def build(train: pd.DataFrame, item_ids: np.ndarray):
        from recsys.kinds import fit_model
        fit = fit_model(text, item_ids, train, NO_FEEDBACK, config, list(callbacks), cancel=cancel)
        scorer.val_users = list(fit.val_users)
        if config.encoder_tuning in ALIGNING and encoder is not None:
            from recsys.align import align_model
            model, result = align_model(fit.model, encoder, texts, train, config, list(callbacks), cancel,
                                        encode=lambda enc: text if enc is encoder else enc.encode(texts),
                                        neighbours=fit.new_items.get("k", 0), log=train)
            scorer.report, scorer.unaligned = result.report, fit.model
            return model
        return fit.model
    scorer.build = build
    return scorer


def splits(dataset: Dataset, config: TrainConfig = TrainConfig()) -> list[Split]:
    """Both protocols, each user's held-out item a positive under the round's positives rule (with every
    interaction a positive, as the referee counts them, these are exactly the referee's splits)."""
    positive = rule_from_config(config.positives, dataset.interactions).weights(dataset.interactions)[0] > 0
    return [warm_split(dataset.interactions, positive), cold_split(dataset.interactions, positive=positive)]


def baseline_metrics(cache_dir: Path, dataset: Dataset, text: np.ndarray, k: int = 10,
                     config: TrainConfig = TrainConfig()) -> dict:
    """Popularity, ItemKNN, EASE, SASRec and the untuned encoder on both protocols; cached per data fingerprint
    and positives rule."""
    rule = rule_from_config(config.positives, dataset.interactions)
    key = hashlib.sha1(json.dumps(rule.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    path = cache_dir / f"baselines-{dataset_fingerprint(dataset)}-{key}-k{k}-v{BASELINES_VERSION}.json"
    cached = read_json(path)
    if cached:
        return cached
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    out: dict[str, dict] = {}
    for split in splits(dataset, config):
        scorers = [Popularity(), ItemKNN() if len(item_ids) <= ITEMKNN_MAX_ITEMS else None,
                   EASE() if len(item_ids) <= EASE_MAX_ITEMS else None, UntunedEncoder(text),
                   SASRec() if split.name == "warm" and len(item_ids) <= SASREC_MAX_ITEMS else None]  # ID-only
        out[split.name] = {s.name: evaluate(s, split, item_ids, k).to_dict() for s in scorers if s is not None}
    atomic_write_json(path, out)
    return out


def evaluate_config(cache_dir: Path, dataset: Dataset, text: np.ndarray, config: TrainConfig,
                    cancel: threading.Event | None = None, k: int = 10, callbacks: list[Callback] = (),
                    encoder=None) -> dict:
    """{'warm': {'tuned': Metrics dict, 'popularity': ...}, 'cold': {...}}; `encoder`: the base text encoder,
    needed by aligning configs (without it they are evaluated unaligned).
    Progress goes to `callbacks` as stages 'evaluate: baselines', 'evaluate: warm', 'evaluate: cold'."""
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    callbacks = list(callbacks)
    emit(callbacks, TrainEvent("evaluate: baselines", 0, 1, None, "scoring the baselines (cached per data set)"))
    result = baseline_metrics(cache_dir, dataset, text, k, config)
    for split in splits(dataset, config):
        stage = f"evaluate: {split.name}"
        emit(callbacks, TrainEvent(stage, 0, 1, None, f"refitting on the {split.name} protocol"))
        scorer = TunedScorer(text, config, cancel, [as_stage(stage, callbacks)], encoder,
                             dataset.items["text"].tolist())
        tuned: Metrics = evaluate(scorer, split, item_ids, k)
        result[split.name] = {"tuned": tuned.to_dict(), **result[split.name]}
        if getattr(scorer, "unaligned", None) is not None:  # the same fit, new items placed by the frozen encoder
            frozen = ServedModel(FROZEN_ROW, lambda _train, _ids, fitted=scorer.unaligned: fitted)
            result[split.name][FROZEN_ROW] = evaluate(frozen, split, item_ids, k).to_dict()
        if config.rerank != "off":  # the same first stage with the second stage trained on this split's part
            from recsys.rerank import RerankScorer
            both = RerankScorer(scorer, dataset.items, config, split.candidates, cancel, [as_stage(stage, callbacks)])
            result[split.name]["tuned+rerank"] = {**evaluate(both, split, item_ids, k).to_dict(),
                                                  "fusion_weight": both.report["weight"]}
    return result
