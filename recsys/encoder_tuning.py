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
from recsys.events import Callback, Cancelled, TrainEvent, emit

# Text far from any catalog: how much the tuned encoder's general sense of language moved.
DRIFT_PROBE = [
    "The train to the airport leaves every twenty minutes.", "Please remember to water the plants on Friday.",
    "The committee approved the new budget after a long debate.", "Symptoms of the flu include fever and fatigue.",
    "How do I reset my password?", "The river flooded the lower part of the village.",
    "She plays the violin in a string quartet.", "Interest rates rose for the third time this year.",
    "The recipe needs two eggs and a cup of flour.", "Our team won the match in extra time.",
    "The museum is closed on Mondays.", "He fixed the bicycle chain with a small tool.",
    "Mountains were covered in fresh snow this morning.", "The software update improves battery life.",
    "A quiet cafe with good coffee near the station.", "The children built a sandcastle at the beach.",
    "Vaccines train the immune system to recognise a virus.", "The contract must be signed by both parties.",
    "Thunderstorms are expected later this afternoon.", "The novel was translated into thirty languages.",
]
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
        from peft import LoraConfig, get_peft_model
        hf = get_peft_model(hf, LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank,
                                           target_modules=["query", "key", "value"], lora_dropout=0.05))
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
                   **drift_report(encoder, tuned)}


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
            loss = loss_fn([_features(model, list(texts), device) for texts in columns], None)
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


def _features(model, texts: list[str], device: str) -> dict:
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in tokenize(texts).items()}


def drift_report(before, after) -> dict:
    """Mean cosine between untuned and tuned embeddings of off-catalog sentences (1.0 = unchanged), and
    the rank correlation of their pairwise similarities (does it still judge general text the same way?)."""
    from scipy.stats import spearmanr
    a, b = before.encode(DRIFT_PROBE), after.encode(DRIFT_PROBE)
    iu = np.triu_indices(len(DRIFT_PROBE), 1)
    rho = spearmanr((a @ a.T)[iu], (b @ b.T)[iu]).statistic
    return {"drift_mean_cosine": float((a * b).sum(1).mean()), "drift_similarity_spearman": float(rho)}
