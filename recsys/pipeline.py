"""A training round end to end: import, encode (cached), optional encoder tuning, fit, evaluate, save a version."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import Dataset, ImportConfig, ImportReport, import_dataset
from recsys.feedback import FeedbackLedger
from recsys.storage import atomic_write_json
from recsys.training import Callback, TrainConfig, TrainEvent, emit
from recsys.workspace import Workspace

EncoderFactory = Callable[[str], object]


@dataclass(frozen=True)
class RoundResult:
    version: str
    metrics: dict
    seconds: float


def import_files(ws: Workspace, interactions: str | Path, items: str | Path, tags: str | Path | None = None,
                 config: ImportConfig = ImportConfig()) -> ImportReport:
    """Validate first; the workspace changes only when the whole import succeeded."""
    dataset = import_dataset(interactions, items, tags, config)
    items_sorted = dataset.items.sort_values("item_id", kind="mergesort").reset_index(drop=True)
    dataset = Dataset(dataset.interactions, items_sorted, dataset.report)
    sources = {"interactions": Path(interactions).name, "items": Path(items).name, "tags": Path(tags).name if tags else ""}
    ws.save_dataset(dataset, sources)
    return dataset.report


def default_encoder_factory(name: str):
    from recsys.encoder import TextEncoder
    return TextEncoder(name)


def item_text_vectors(ws: Workspace, items: pd.DataFrame, encoder, callbacks: list[Callback] = ()) -> np.ndarray:
    """(n_items, dim) embeddings of the item texts, from the workspace cache where unchanged."""
    from recsys.encoder import EmbeddingCache
    cache = EmbeddingCache(ws.cache_dir, encoder)
    progress = lambda done, total: emit(callbacks, TrainEvent("encode", done, total, None, "encoding item texts"))
    return cache.encode(items["text"].tolist(), progress)


def run_round(ws: Workspace, config: TrainConfig = TrainConfig(), callbacks: list[Callback] = (),
              cancel: threading.Event | None = None, evaluate: bool = False,
              encoder_factory: EncoderFactory = default_encoder_factory) -> RoundResult:
    """Train a new model version on the workspace's data plus all feedback so far, and activate it."""
    from recsys.trainer import fit_adapter
    started = time.perf_counter()
    dataset = ws.load_dataset()
    ledger = FeedbackLedger(ws.ledger_path)
    feedback = ledger.current_labels()
    previous = ws.active_name()
    emit(callbacks, TrainEvent("load", 1, 1, None, f"{len(dataset.interactions):,} interactions, {len(feedback)} thumbs"))
    encoder = encoder_factory(config.encoder_model)
    extra: dict = {}
    if config.encoder_tuning != "none":
        from recsys.encoder_tuning import tune_encoder
        encoder, extra = tune_encoder(encoder, dataset, feedback, config, callbacks, cancel)
    text = item_text_vectors(ws, dataset.items, encoder, callbacks)
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    fit = fit_adapter(text, item_ids, dataset.interactions, feedback, config, callbacks, cancel)
    metrics = {"validation_ndcg@10": fit.best_val_ndcg, "epochs": fit.epochs, "train_examples": fit.examples,
               "train_examples_per_s": fit.examples_per_s, "final_loss": fit.losses[-1] if fit.losses else None,
               "feedback_seen": len(feedback), **extra}
    if evaluate:
        from recsys.rounds import evaluate_config
        metrics["evaluation"] = evaluate_config(ws, dataset, text, config, cancel, callbacks=callbacks)
    metrics["feedback_report"] = feedback_report(ws, fit.model, dataset, feedback)
    emit(callbacks, TrainEvent("save", 1, 1, None, "writing the model version"))

    def fill(folder: Path) -> None:
        fit.model.save(folder)
        atomic_write_json(folder / "config.json", {**config.to_dict(), "encoder_key": getattr(encoder, "key", ""),
                                                   "previous_version": previous})
        atomic_write_json(folder / "metrics.json", {**metrics, "seconds": time.perf_counter() - started})
        feedback.to_csv(folder / "feedback_seen.csv", index=False)
        atomic_write_json(folder / "data.json", {"interactions": len(dataset.interactions), "items": len(item_ids),
                                                 "fingerprint": data_fingerprint(dataset), "feedback": len(feedback)})
        if extra.get("encoder_dir"):
            encoder.save_to(folder / "encoder")

    version = ws.write_version(fill)
    return RoundResult(version, metrics, time.perf_counter() - started)


def create_untuned_version(ws: Workspace, encoder_factory: EncoderFactory = default_encoder_factory,
                           encoder_model: str | None = None) -> str:
    """Version 'untuned': the encoder as is, so a fresh workspace recommends before any training."""
    from recsys.model import ServingModel
    config = TrainConfig() if encoder_model is None else TrainConfig(encoder_model=encoder_model)
    dataset = ws.load_dataset()
    encoder = encoder_factory(config.encoder_model)
    text = item_text_vectors(ws, dataset.items, encoder)
    model = ServingModel.untuned(dataset.items["item_id"].astype(str).to_numpy(), text)

    def fill(folder: Path) -> None:
        model.save(folder)
        atomic_write_json(folder / "config.json", {"kind": "untuned", "encoder_model": config.encoder_model,
                                                   "encoder_key": getattr(encoder, "key", "")})
        atomic_write_json(folder / "metrics.json", {"feedback_seen": 0})
        atomic_write_json(folder / "data.json", {"fingerprint": data_fingerprint(dataset)})
    return ws.write_version(fill)


def feedback_report(ws: Workspace, model, dataset: Dataset, feedback: pd.DataFrame, k: int = 10) -> dict:
    """How the new model treats earlier thumbs, before any serving-time filter: the share of upvoted items
    it ranks in the user's top k, and the share of downvoted items it keeps out of the top k."""
    from recsys.recommend import Recommender
    if feedback.empty:
        return {"ups": 0, "downs": 0, "ups_in_top_k": None, "downs_kept_out": None, "k": k}
    rec = Recommender(model, dataset.interactions, None)
    hits = {"up": [], "down": []}
    for user, group in feedback.groupby("user_id"):
        top = {r.item_id for r in rec.recommend(str(user), k, use_feedback=False, explain=0)}
        for item, label in zip(group["item_id"].astype(str), group["label"]):
            hits[label].append(item in top)
    share = lambda xs: float(np.mean(xs)) if xs else None
    downs_in = share(hits["down"])
    return {"ups": len(hits["up"]), "downs": len(hits["down"]), "ups_in_top_k": share(hits["up"]),
            "downs_kept_out": None if downs_in is None else 1.0 - downs_in, "k": k}


def data_fingerprint(dataset: Dataset) -> str:
    h = pd.util.hash_pandas_object(dataset.interactions[["user_id", "item_id", "timestamp"]], index=False)
    t = pd.util.hash_pandas_object(dataset.items[["item_id", "text"]], index=False)
    return f"{int(h.sum()) & 0xFFFFFFFFFFFF:012x}-{int(t.sum()) & 0xFFFFFFFF:08x}"

