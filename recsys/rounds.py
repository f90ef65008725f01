"""A training round end to end: load, encode (cached), optional encoder tuning, fit, evaluate, save a version.
Also the untuned version a fresh workspace serves from, and how a new model treats earlier thumbs."""
from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.ann import ANN_MIN_ITEMS, AnnIndex
from recsys.config import ALIGNING, TrainConfig
from recsys.data import Dataset, dataset_fingerprint
from recsys.drift import guard_reason
from recsys.encoder import item_text_vectors
from recsys.errors import RecTuneError
from recsys.events import Callback, StageClock, TrainEvent, emit
from recsys.feedback import FeedbackLedger
from recsys.gate import decide
from recsys.positives import PositiveRule
from recsys.quick import QuickConfig, QuickResult, new_thumbs, quick_update
from recsys.recommend import serving_index
from recsys.rerank import RERANK_DIR, RERANK_FILE
from recsys.serving import ServingModel
from recsys.versions import ENCODER_DIR, FEEDBACK_SEEN, seen_thumbs, write_version_files
from recsys.workspace import Workspace

EncoderFactory = Callable[[str], object]


@dataclass(frozen=True)
class RoundResult:
    version: str
    metrics: dict
    seconds: float


def run_round(ws: Workspace, config: TrainConfig, encoder_factory: EncoderFactory, callbacks: list[Callback] = (),
              cancel: threading.Event | None = None, evaluate: bool = False) -> RoundResult:
    """Train a new model version on the workspace's data plus all feedback so far, and activate it."""
    from recsys.kinds import fit_model
    clock = StageClock()  # the round report's stage_seconds
    started, callbacks, requested, previous = time.perf_counter(), [*callbacks, clock], config.kind, ws.active_name()
    _check_before_work(config)
    dataset, feedback = _load(ws, callbacks)
    encoder, extra = _round_encoder(encoder_factory(config.encoder_model), dataset, feedback, config, callbacks, cancel)
    text = item_text_vectors(ws.cache_dir, dataset.items["text"].tolist(), _on_backend(encoder, config), callbacks)
    fit = fit_model(text, dataset.items["item_id"].astype(str).to_numpy(), dataset.interactions, feedback, config,
                    callbacks, cancel)
    config = replace(config, positives=fit.positives)  # the rule as used, saved with the version
    evaluation = _round_evaluation(ws, dataset, text, config, encoder, callbacks, cancel) if evaluate else {}
    text_key = getattr(encoder, "key", "")  # the text the first stage learned from (Explore's "before" map)
    fit, encoder, extra = _round_alignment(ws, fit, encoder, dataset, feedback, config, extra, callbacks, cancel)
    metrics = {**_fit_metrics(fit), "feedback_seen": len(feedback), **extra, **evaluation,
               "feedback_report": feedback_report(fit.model, dataset, feedback)}
    reranker = _round_reranker(fit, dataset, feedback, config, metrics, callbacks, cancel)
    gate = _activation(ws, previous, fit, dataset, config, metrics, callbacks)
    index = _index(fit.model, dataset, metrics, callbacks) if reranker is None else None  # re-ranked: exact
    emit(callbacks, TrainEvent("save", 0, 1, None, gate.reason))
    emit(callbacks, TrainEvent("save", 1, 1, None, "writing the model version"))

    def fill(folder: Path) -> None:
        fit.model.save(folder)
        if index is not None:
            index.save(folder)
        write_version_files(folder, {**config.to_dict(), "kind": fit.kind, "kind_requested": requested,
                                     "encoder_key": text_key, "previous_version": previous},
                            {**metrics, "seconds": time.perf_counter() - started,
                             "stage_seconds": [*clock.seconds().items()]}, _data_record(dataset, feedback))
        feedback.to_csv(folder / FEEDBACK_SEEN, index=False)
        if extra.get("encoder_dir"):
            encoder.save_to(folder / ENCODER_DIR)
        if reranker is not None:
            reranker.save(folder, metrics["rerank"])

    version = ws.write_version(fill, activate=gate.activate)
    return RoundResult(version, metrics, time.perf_counter() - started)


def _load(ws: Workspace, callbacks: list[Callback]) -> tuple[Dataset, pd.DataFrame]:
    """The workspace's data set and every thumb so far (stage 'load')."""
    dataset = ws.load_dataset()
    feedback = FeedbackLedger(ws.ledger_path).current_labels()
    emit(callbacks, TrainEvent("load", 1, 1, None, f"{len(dataset.interactions):,} interactions, {len(feedback)} thumbs"))
    return dataset, feedback


def _index(model: ServingModel, dataset: Dataset, metrics: dict, callbacks) -> AnnIndex | None:
    """A large catalog's serving index (recommend.serving_index), its build reported as stage 'index'."""
    if len(model.item_ids) < ANN_MIN_ITEMS:
        return None
    emit(callbacks, TrainEvent("index", 0, 1, None, f"indexing {len(model.item_ids):,} items for fast lists"))
    index = serving_index(model, dataset.interactions)
    metrics["serving_index"] = asdict(index.stats)
    verdict = "" if index.meets_target else f"; under {index.stats.target}: lists are scored exactly"
    emit(callbacks, TrainEvent("index", 1, 1, None, f"{index.stats.kind} index, recall@10 {index.stats.recall:.3f}"
                                                    f"{verdict}"))
    return index


def _on_backend(encoder, config: TrainConfig):
    """The encoder of the round's catalog encode: on Ray for backend 'ray' (distributed.on_backend)."""
    if config.backend == "local":
        return encoder
    from recsys.distributed import on_backend
    return on_backend(encoder, config)


def _check_before_work(config: TrainConfig) -> None:
    """Settings that can only fail late (a re-ranker base transformers cannot load) fail before any work."""
    if config.rerank != "off":
        from recsys.cross_encoder import CrossEncoder
        CrossEncoder.check_base(config.encoder_model)
    if config.backend == "ray":  # Ray installed (an optional extra), or a clear error before any work
        from recsys.distributed import ray_module
        ray_module()


def _fit_metrics(fit) -> dict:
    return {"validation_ndcg@10": fit.best_val_ndcg, "epochs": fit.epochs, "stopped_by": fit.stopped_by,
            "kind": fit.kind, "kind_reason": fit.kind_reason, "positives": PositiveRule(**fit.positives).describe(),
            "train_examples": fit.examples, "train_examples_per_s": fit.examples_per_s,
            "final_loss": fit.losses[-1] if fit.losses else None, "new_items": fit.new_items,
            "kind_seconds": fit.kind_seconds, "text_loss_rows": fit.text_rows}


def _activation(ws: Workspace, previous: str | None, fit, dataset: Dataset, config: TrainConfig, metrics: dict,
                callbacks: list[Callback]):
    """The gate's decision (gate.py), overruled by the forgetting guard (drift.py); recorded in `metrics`. Stage
    'save' starts here (so the round's stage_seconds give the decision to 'save', not to the next stage)."""
    emit(callbacks, TrainEvent("save", 0, 1, None, "deciding whether to activate the new version"))
    gate = decide(fit.model, _serving(ws, previous), dataset.interactions, list(fit.val_users))
    forgot = guard_reason(metrics, config.min_drift_spearman)
    if forgot:
        gate = replace(gate, activate=False, reason=forgot)
    if "drift_similarity_spearman" in metrics:
        metrics["forgetting_guard"] = {"min_drift_spearman": config.min_drift_spearman, "passed": forgot is None}
    metrics.update(activated=gate.activate, activation=gate.reason, validation_compared=gate.scores)
    return gate


def _round_reranker(fit, dataset: Dataset, feedback: pd.DataFrame, config: TrainConfig, metrics: dict,
                    callbacks: list[Callback], cancel: threading.Event | None):
    """The second stage when configured: trained over the round's model, kept per its report (rerank.py)."""
    if config.rerank == "off":
        return None
    from recsys.rerank import fit_reranker
    reranker, report = fit_reranker(fit.model, dataset.interactions, dataset.items, feedback, config,
                                    list(fit.val_users), callbacks, cancel)
    metrics["rerank"] = report
    emit(callbacks, TrainEvent("rerank", 1, 1, None, report["summary"]))
    return reranker if report["keep"] else None


def _serving(ws: Workspace, version: str | None) -> ServingModel | None:
    return ServingModel.load(ws.models_dir / version) if version else None


def _round_encoder(encoder, dataset: Dataset, feedback: pd.DataFrame, config: TrainConfig, callbacks, cancel):
    """The encoder the first stage uses: as is, or a tuned copy (the base weights are never modified)."""
    if config.encoder_tuning == "none" or config.encoder_tuning in ALIGNING:
        return encoder, {}
    from recsys.encoder_tuning import tune_encoder
    return tune_encoder(encoder, dataset, feedback, config, callbacks, cancel)


def _round_evaluation(ws: Workspace, dataset: Dataset, text: np.ndarray, config: TrainConfig, encoder, callbacks,
                      cancel) -> dict:
    """{'evaluation': ...}: the config refitted on both protocols over the first stage's text and encoder (an
    aligning config aligns on each protocol's training part itself)."""
    from recsys.comparison import evaluate_config
    return {"evaluation": evaluate_config(ws.cache_dir, dataset, text, config, cancel, callbacks=callbacks,
                                          encoder=encoder)}


def _round_alignment(ws: Workspace, fit, encoder, dataset: Dataset, feedback: pd.DataFrame, config: TrainConfig,
                     extra: dict, callbacks, cancel):
    """'align' / 'auto': the encoder tuned towards the trained item vectors places the items no one has touched
    yet (align.py); returns the fit, the encoder the version keeps, and the report."""
    if config.encoder_tuning not in ALIGNING:
        return fit, encoder, extra
    from recsys.align import align_model
    texts = dataset.items["text"].tolist()
    trained = pd.concat([dataset.interactions[["item_id"]], feedback.loc[feedback["label"] == "up", ["item_id"]]])
    model, result = align_model(fit.model, encoder, texts, trained, config, callbacks, cancel,  # ups train items too
                                encode=lambda tuned: item_text_vectors(ws.cache_dir, texts, tuned, callbacks),
                                neighbours=fit.new_items.get("k", 0), log=dataset.interactions)
    return replace(fit, model=model), result.encoder if result.keep else encoder, {**extra, **result.report}


def _data_record(dataset: Dataset, feedback: pd.DataFrame) -> dict:
    return {"interactions": len(dataset.interactions), "items": len(dataset.items),
            "fingerprint": dataset_fingerprint(dataset), "feedback": len(feedback)}


def run_quick_round(ws: Workspace, quick: QuickConfig = QuickConfig(), callbacks: list[Callback] = ()) -> RoundResult:
    """A new version in seconds: the active one with its item table adjusted to every thumb so far (quick.py),
    activated at once; a full round stays the way to learn from the log again."""
    started, callbacks = time.perf_counter(), list(callbacks)
    base = ws.active_version()
    if base is None:
        raise RecTuneError("no model yet: import data first.")
    dataset = ws.load_dataset()
    model = ServingModel.load(base.path)
    if not np.array_equal(model.item_ids, dataset.items["item_id"].astype(str).to_numpy()):
        raise RecTuneError(f"the catalog changed since {base.name} was trained: run a full round instead.")
    labels = FeedbackLedger(ws.ledger_path).current_labels()
    fresh = new_thumbs(labels, seen_thumbs(base.path))
    if fresh.empty:
        raise RecTuneError(f"no new thumbs since {base.name} was trained: nothing to apply.")
    emit(callbacks, TrainEvent("quick", 0, 1, None, f"{len(fresh)} new thumb(s): adjusting {base.name}"))
    result = quick_update(model, dataset.interactions, labels, fresh, quick)
    metrics = _quick_metrics(base.name, result, quick, dataset, labels)
    emit(callbacks, TrainEvent("quick", 1, 1, None, metrics["quick"]["summary"]))
    index = None if (base.path / RERANK_FILE).exists() else _index(result.model, dataset, metrics, callbacks)

    def fill(folder: Path) -> None:
        result.model.save(folder)
        if index is not None:
            index.save(folder)
        write_version_files(folder, {**base.config, "previous_version": base.name, "round": "quick",
                                     "quick": quick.to_dict()},
                            {**metrics, "seconds": time.perf_counter() - started}, _data_record(dataset, labels))
        labels.to_csv(folder / FEEDBACK_SEEN, index=False)
        if (base.path / ENCODER_DIR).is_dir():
            shutil.copytree(base.path / ENCODER_DIR, folder / ENCODER_DIR)
        if (base.path / RERANK_FILE).exists():  # the base's second stage serves on top of the adjusted first
            shutil.copytree(base.path / RERANK_DIR, folder / RERANK_DIR)
            shutil.copy2(base.path / RERANK_FILE, folder / RERANK_FILE)

    version = ws.write_version(fill, activate=True)
    return RoundResult(version, metrics, time.perf_counter() - started)


def _quick_metrics(base: str, result: QuickResult, quick: QuickConfig, dataset: Dataset, labels: pd.DataFrame) -> dict:
    summary = result.summary(quick.k)
    return {"validation_ndcg@10": None, "stopped_by": "quick update", "feedback_seen": len(labels),
            "kind_reason": f"quick update of {base}", "activated": True,
            "activation": f"activated: quick update of {base} ({summary})",
            "quick": {"base": base, "summary": summary, "thumbs": result.thumbs, "replay_users": result.replay_users,
                      "kept_top_k": result.kept_top_k, "moves": [asdict(m) for m in result.moves]},
            "feedback_report": feedback_report(result.model, dataset, labels)}


def create_untuned_version(ws: Workspace, encoder_factory: EncoderFactory, encoder_model: str | None = None,
                           callbacks: list[Callback] = ()) -> str:
    """Version 'untuned': the encoder as is, so a fresh workspace recommends before any training."""
    config = TrainConfig() if encoder_model is None else TrainConfig(encoder_model=encoder_model)
    dataset = ws.load_dataset()
    encoder = encoder_factory(config.encoder_model)
    text = item_text_vectors(ws.cache_dir, dataset.items["text"].tolist(), encoder, list(callbacks))
    model = ServingModel.untuned(dataset.items["item_id"].astype(str).to_numpy(), text)
    index = _index(model, dataset, {}, list(callbacks))

    def fill(folder: Path) -> None:
        model.save(folder)
        if index is not None:
            index.save(folder)
        write_version_files(folder, {"kind": "untuned", "encoder_model": config.encoder_model,
                                     "encoder_key": getattr(encoder, "key", "")},
                            {"feedback_seen": 0}, {"fingerprint": dataset_fingerprint(dataset)})
    return ws.write_version(fill)


def feedback_report(model: ServingModel, dataset: Dataset, feedback: pd.DataFrame, k: int = 10) -> dict:
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
