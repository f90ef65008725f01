"""Tuning the language model itself (LoRA through peft, or full): contrastive (history text -> next item
text) triplets trained with sentence-transformers' own MultipleNegativesRankingLoss (in-batch negatives plus
one hard negative each). The untuned weights are never modified: a copy is tuned."""
from __future__ import annotations

import copy
import hashlib
import threading

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.data import Dataset
from recsys.drift import measure_drift
from recsys.events import Callback, Cancelled, TrainEvent, emit

BATCH = 16  # triplets per step: with MNRL every other positive in the batch is a negative too


def build_pairs(dataset: Dataset, feedback: pd.DataFrame, n_pairs: int, seed: int) -> list[tuple[str, str, str]]:
    """(anchor: the user's last 5 titles, positive: the next item's text, hard negative: a thumbs-down item of
    that user, else a popular item the user never touched)."""
    rng = np.random.default_rng(seed)
    items = dataset.items.set_index("item_id")
    log = dataset.interactions
    popular = log["item_id"].value_counts().index[:500].to_numpy()
    downs = feedback[feedback["label"] == "down"].groupby("user_id")["item_id"].agg(list).to_dict()
    pairs = []
    groups = {u: g["item_id"].to_numpy() for u, g in log.groupby("user_id")}
    users = [u for u, seq in groups.items() if len(seq) >= 2]
    for u in rng.choice(users, size=n_pairs, replace=True):
        seq = groups[u]
        t = int(rng.integers(1, len(seq)))
        anchor = "Recently liked: " + "; ".join(items.at[i, "title"] for i in seq[max(0, t - 5):t])
        negative = (downs.get(u) or [None])[0] or next(i for i in rng.choice(popular, 20) if i not in set(seq))
        pairs.append((anchor, items.at[seq[t], "text"], items.at[negative, "text"]))
    return pairs


def tune_encoder(encoder, dataset: Dataset, feedback: pd.DataFrame, config: TrainConfig,
                 callbacks: list[Callback] = (), cancel: threading.Event | None = None):
    """Returns (tuned TextEncoder, report dict). Uses the encoder's device (a GPU when present)."""

    from recsys.encoder import TextEncoder
    model = copy.deepcopy(encoder.model)
    hf = model[0].auto_model
    if config.encoder_tuning == "lora":
        hf = with_lora(hf, config.lora_rank)
        model[0].auto_model = hf
    pairs = build_pairs(dataset, feedback, config.encoder_pairs, config.seed)
    losses = _train_contrastive(model, pairs, config, encoder.device, list(callbacks), cancel)
    if config.encoder_tuning == "lora":
        model[0].auto_model = hf.merge_and_unload()
    model.eval()
    key = hashlib.sha1(f"{encoder.key}|{config.encoder_tuning}|{sum(losses)}".encode()).hexdigest()[:16]
    tuned = TextEncoder.from_model(model, key, encoder.device, encoder.precision)
    return tuned, {"encoder_tuning": config.encoder_tuning, "encoder_pairs": len(pairs),
                   "encoder_final_loss": float(np.mean(losses[-10:])), "encoder_dir": "encoder",
                   **measure_drift(encoder, tuned).to_dict()}


def with_lora(hf, rank: int):
    """`hf` wrapped with LoRA adapters (peft): BERT-family attention names where the model has them, else peft's
    default for its architecture (GPT-2: c_attn, which holds query, key, value)."""
    from peft import LoraConfig, get_peft_model
    names = ["query", "key", "value"] if any(n.endswith(".query") for n, _ in hf.named_modules()) else None
    return get_peft_model(hf, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=names, lora_dropout=0.05))


def _train_contrastive(model, pairs: list[tuple[str, str, str]], config: TrainConfig, device: str,
                       callbacks: list[Callback], cancel: threading.Event | None) -> list[float]:
    import torch
    loss_fn = _mnrl()(model)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.encoder_lr)
    total, losses = config.encoder_epochs * -(-len(pairs) // BATCH), []
    model.train()
    for _ in range(config.encoder_epochs):
        for start in range(0, len(pairs), BATCH):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            columns = zip(*pairs[start:start + BATCH])  # anchors, positives, hard negatives
            loss = loss_fn([features(model, list(texts), device) for texts in columns], None)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(float(loss.detach()))
            emit(callbacks, TrainEvent("tune-encoder", len(losses), total, losses[-1],
                                       f"{config.encoder_tuning} encoder tuning"))
    return losses


def _mnrl():
    try:  # sentence-transformers >= 6 moved its losses
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    return MultipleNegativesRankingLoss


def features(model, texts: list[str], device: str) -> dict:
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in tokenize(texts).items()}
