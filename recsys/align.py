"""Encoders aligned to taste (`encoder_tuning="align"`, or `"auto"`: kept only when it wins): after the first stage
is trained, a LoRA copy of the text encoder is tuned so that the trained model's own adapters, applied to an
item's new text vector, land where training put the item (its text path plus its learned ID residual, on both
the history side and the candidate side). A new item then starts where items that users treat alike sit, not only
where its words put it. Only items never seen in training (new, cold items) are served from the aligned text;
seen items keep their trained vectors.

Targets are the items seen at least MIN_COUNT times (a rarely seen item's residual is mostly noise). A tenth of
them, drawn by seed, are held out: the report compares, on those, how far the frozen and the aligned text land
from the trained vectors (paired, with its standard error). `auto` decides by align_check.py instead, the cold
protocol played on a second fit that never saw a tenth of the items (that distance favours any encoder that lands
closer to the trained vectors, ranking or not), and keeps the alignment only when its NDCG@10 there beats the
first stage's own placement by more than twice the paired standard error; with too few events to judge on, the
distance decides. An alignment that fails the forgetting guard is dropped (the round serves
without it) rather than holding back the whole round. The base weights are never modified."""
from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recsys.align_check import MIN_EVENTS, pseudo_cold_check
from recsys.config import TrainConfig
from recsys.drift import measure_drift
from recsys.events import Callback, Cancelled, TrainEvent, emit
from recsys.serving import ServingModel

MIN_COUNT = 5  # training interactions an item needs to be a target
HOLDOUT = 0.1  # share of the targets held out to decide
BATCH = 32
NOISE_SE = 2.0  # 'auto' keeps the alignment when the held-out gain exceeds this many standard errors


@dataclass(frozen=True)
class Alignment:
    encoder: object | None  # the aligned TextEncoder (None when there was too little to align on)
    report: dict
    keep: bool


def align_model(model: ServingModel, encoder, texts: list[str], train: pd.DataFrame, config: TrainConfig,
                callbacks: list[Callback] = (), cancel: threading.Event | None = None,
                encode: Callable[[object], np.ndarray] | None = None, neighbours: int = 0,
                log: pd.DataFrame | None = None) -> tuple[ServingModel, Alignment]:
    """The trained `model` with its never-seen items placed by an aligned encoder (when kept), and the alignment.
    `train`: the interactions the model was trained on; `encode(encoder)`: every item's text vector (default:
    encoder.encode(texts); a round passes its embedding cache); `neighbours`: the k with which the first stage
    placed its new items (neighbours.py; 0: by their frozen text alone), which the aligned text must beat; `log`:
    the interactions the first stage trained on, for `auto`'s check (align_check.py; without it the distance
    decides)."""
    counts = pd.Index(model.item_ids).get_indexer(train["item_id"].astype(str))
    counts = np.bincount(counts[counts >= 0], minlength=len(model.item_ids))
    encode = encode or (lambda enc: enc.encode(texts))
    check = config.encoder_tuning == "auto" and log is not None
    frozen = encode(encoder) if neighbours > 0 or check else None
    result = None
    if check:
        def align(fitted: ServingModel, fitted_counts: np.ndarray, k: int, told: list[Callback]):
            return align_encoder(encoder, fitted, texts, fitted_counts, replace(config, encoder_tuning="align"),
                                 told, cancel, frozen, k).encoder
        found = pseudo_cold_check(frozen, model.item_ids, log, model.kind, texts, align, config, callbacks, cancel)
        result = _failed_check(found, config)  # no second alignment for a check already lost
    if result is None:
        result = align_encoder(encoder, model, texts, counts, config, callbacks, cancel, frozen, neighbours,
                               found if check else {})
    emit(list(callbacks), TrainEvent("tune-encoder", 1, 1, None, result.report["align_summary"]))
    if not result.keep:
        return model, result
    return with_aligned_cold_items(model, encode(result.encoder), counts), result


def align_encoder(encoder, model: ServingModel, texts: list[str], counts: np.ndarray, config: TrainConfig,
                  callbacks: list[Callback] = (), cancel: threading.Event | None = None,
                  frozen: np.ndarray | None = None, neighbours: int = 0, check: dict | None = None) -> Alignment:
    """`counts`: (n_items,) training interactions per item, rows as `model.item_ids`; `texts` likewise. With
    `neighbours` > 0 (and `frozen`, every item's frozen text vector), the held-out items' frozen side is what a new
    item would get: its frozen text plus the residual borrowed from its nearest seen items. `check`: align_check's
    fields, which decide `auto` when they hold enough events."""
    rng = np.random.default_rng(config.seed)
    eligible = np.flatnonzero(counts >= MIN_COUNT)
    if len(eligible) < 50:
        return Alignment(None, {"encoder_tuning": config.encoder_tuning, "align_kept": False,
                                      "align_summary": f"alignment skipped: only {len(eligible)} items were seen "
                                                       f"{MIN_COUNT}+ times (50 needed)"}, False)
    held = np.sort(rng.choice(eligible, size=max(20, int(HOLDOUT * len(eligible))), replace=False))
    pool = np.setdiff1d(eligible, held)
    train = rng.permutation(pool)[:config.encoder_pairs]
    tuned, losses = _tune(encoder, model, texts, train, config, list(callbacks), cancel)
    held_texts = [texts[i] for i in held]
    borrowed = None if frozen is None else _borrowed(model, frozen, counts, held, neighbours)
    report = _held_out_report(model, encoder.encode(held_texts), tuned.encode(held_texts), held, borrowed)
    report["align_neighbours"] = neighbours if borrowed is not None else 0
    report.update(check or {})
    report.update(encoder_tuning=config.encoder_tuning, align_items=len(train), encoder_pairs=len(train),
                  encoder_final_loss=float(np.mean(losses[-10:])), encoder_dir="encoder",
                  **measure_drift(encoder, tuned).to_dict())
    drifted = report["drift_similarity_spearman"] < config.min_drift_spearman  # the forgetting guard
    keep = not drifted and (config.encoder_tuning == "align" or _wins(report))
    report.update(align_kept=keep, align_summary=_summary(report, keep, config.encoder_tuning, drifted))
    if not keep:  # nothing of it serves: no encoder to save, no drift for the forgetting guard to judge
        report = {k: v for k, v in report.items() if k != "encoder_dir" and not k.startswith("drift_")}
    return Alignment(tuned if keep else None, report, keep)


def _wins(report: dict) -> bool:
    """`auto`'s verdict: the cold check's NDCG gain (align_check.py), or without enough events the distance gain,
    beyond NOISE_SE standard errors."""
    if report.get("align_check_events", 0) >= MIN_EVENTS:
        return report["align_check_gain"] > NOISE_SE * report["align_check_gain_se"]
    return report["align_gain"] > NOISE_SE * report["align_gain_se"]


def _failed_check(check: dict, config: TrainConfig) -> Alignment | None:
    """The alignment `auto` does not keep, when the cold check alone already says so; else None."""
    if check.get("align_check_events", 0) < MIN_EVENTS or _wins(check):
        return None
    report = {"encoder_tuning": config.encoder_tuning, "align_kept": False, **check}
    report["align_summary"] = f"aligned encoder not kept (no gain beyond the noise): {_check_told(check)}"
    return Alignment(None, report, False)


def _check_told(check: dict) -> str:
    return (f"on a second fit that never saw {check['align_check_hidden_items']:,} items, ranked as new items on "
            f"{check['align_check_events']:,} next-item events, NDCG@10 {check['align_check_ndcg_frozen']:.4f} as "
            f"the first stage places new items -> {check['align_check_ndcg_aligned']:.4f} from an encoder aligned "
            f"on that fit ({check['align_check_gain']:+.4f} +- {check['align_check_gain_se']:.4f})")


def with_aligned_cold_items(model: ServingModel, text: np.ndarray, counts: np.ndarray) -> ServingModel:
    """The model with every item never seen in training (counts == 0) placed by its aligned text. The aligned
    encoder was tuned to land on the trained vectors, residual included, so its text replaces the frozen text and
    any residual borrowed from neighbours (neighbours.py) alike: adding both would count the residual twice."""
    cold = counts == 0
    item_in, item_out = model.item_in.copy(), model.item_out.copy()
    item_in[cold] = text[cold] @ model.in_adapter.T
    item_out[cold] = text[cold] @ model.out_adapter.T
    return replace(model, item_in=item_in, item_out=item_out)


def _borrowed(model: ServingModel, frozen: np.ndarray, counts: np.ndarray, held: np.ndarray, k: int) -> np.ndarray:
    """The out residual each held-out item would borrow as a new item from its k nearest seen items with a
    learned residual (an item seen only disliked has none: exactly zero), the held-out items left out."""
    from recsys.neighbours import neighbour_mean, pool_of, unit_rows
    residual = model.item_out - frozen @ model.out_adapter.T
    seen = (counts > 0) & np.any(residual != 0, axis=1)
    seen[held] = False
    pool = pool_of(seen, counts)
    return neighbour_mean(unit_rows(frozen[held]), unit_rows(frozen[pool]), residual[pool].astype(np.float32), k)


def _tune(encoder, model: ServingModel, texts: list[str], train: np.ndarray, config: TrainConfig,
          callbacks: list[Callback], cancel: threading.Event | None):
    import torch

    from recsys.encoder import TextEncoder
    from recsys.encoder_tuning import with_lora
    torch.manual_seed(config.seed)
    st_model = copy.deepcopy(encoder.model)
    hf = with_lora(st_model[0].auto_model, config.lora_rank)
    st_model[0].auto_model = hf
    w_in = torch.from_numpy(model.in_adapter).to(encoder.device)
    w_out = torch.from_numpy(model.out_adapter).to(encoder.device)
    t_in = torch.from_numpy(model.item_in).to(encoder.device)
    t_out = torch.from_numpy(model.item_out).to(encoder.device)
    optim = torch.optim.AdamW([p for p in st_model.parameters() if p.requires_grad], lr=config.encoder_lr)
    total, losses = config.encoder_epochs * -(-len(train) // BATCH), []
    st_model.train()
    for epoch in range(config.encoder_epochs):
        order = np.random.default_rng(config.seed + epoch).permutation(train)
        for start in range(0, len(order), BATCH):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            idx = torch.from_numpy(order[start:start + BATCH])
            vec = _embed(st_model, [texts[i] or " " for i in idx.tolist()], encoder.device)
            loss = _relative_error(vec @ w_out.T, t_out[idx]) + _relative_error(vec @ w_in.T, t_in[idx])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(float(loss.detach()))
            emit(callbacks, TrainEvent("tune-encoder", len(losses), total, losses[-1], "aligning the encoder"))
    st_model[0].auto_model = hf.merge_and_unload()
    st_model.eval()
    key = hashlib.sha1(f"{encoder.key}|align|{sum(losses)}".encode()).hexdigest()[:16]
    return TextEncoder.from_model(st_model, key, encoder.device, encoder.precision), losses


def _embed(st_model, texts: list[str], device: str):
    import torch

    from recsys.encoder_tuning import features
    return torch.nn.functional.normalize(st_model(features(st_model, texts, device))["sentence_embedding"], dim=-1)


def _relative_error(pred, target):
    return ((pred - target) ** 2).sum() / (target ** 2).sum().clamp_min(1e-12)


def _held_out_report(model: ServingModel, frozen: np.ndarray, aligned: np.ndarray, held: np.ndarray,
                     borrowed: np.ndarray | None = None) -> dict:
    """Per held-out item, the squared distance (relative to the target's) between adapter(text) and the trained
    vector, candidate side: frozen text (plus the residual it would borrow from its neighbours) vs aligned text;
    and the cosines."""
    target = model.item_out[held]
    before, after = frozen @ model.out_adapter.T, aligned @ model.out_adapter.T
    if borrowed is not None:
        before = before + borrowed
    err = lambda pred: ((pred - target) ** 2).sum(1) / np.maximum((target ** 2).sum(1), 1e-12)
    cos = lambda pred: float(np.mean((pred * target).sum(1) / np.maximum(
        np.linalg.norm(pred, axis=1) * np.linalg.norm(target, axis=1), 1e-12)))
    gain = err(before) - err(after)
    return {"align_held_out_items": len(held), "align_error_frozen": float(err(before).mean()),
            "align_error_aligned": float(err(after).mean()), "align_gain": float(gain.mean()),
            "align_gain_se": float(gain.std(ddof=1) / np.sqrt(len(gain))),
            "align_cosine_frozen": cos(before), "align_cosine_aligned": cos(after)}


def _summary(report: dict, keep: bool, mode: str, drifted: bool) -> str:
    against = f" than the frozen text plus what its {report['align_neighbours']} nearest seen items learned" \
        if report.get("align_neighbours") else ""
    told = (f"on {report['align_held_out_items']} held-out items the aligned text lands "
            f"{report['align_gain']:+.3f} +- {report['align_gain_se']:.3f} closer to the trained vectors{against} "
            f"(relative error {report['align_error_frozen']:.3f} -> {report['align_error_aligned']:.3f}, cosine "
            f"{report['align_cosine_frozen']:.3f} -> {report['align_cosine_aligned']:.3f})")
    if report.get("align_check_events", 0) >= MIN_EVENTS:
        told = f"{_check_told(report)}; held-out items {told}"
    if drifted:
        return (f"aligned encoder not kept (the forgetting guard: similarity Spearman "
                f"{report['drift_similarity_spearman']:.3f}); the round serves without it: {told}")
    if mode == "align":
        return f"aligned encoder used for new items (as configured): {told}"
    return f"aligned encoder {'kept' if keep else 'not kept (no gain beyond the noise)'}: {told}"
