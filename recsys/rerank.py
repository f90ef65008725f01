"""The second stage: a cross-encoder re-ranks the first stage's top N for a user. It learns from (recent history
text, candidate text) groups: the next item (and thumbs-ups) against the first stage's own top-N items the user
did not pick (and thumbs-downs). The served score fuses both stages, z-scored within the N, with a weight
fitted on the round's validation users by cross-fitting (two halves, each scored with the other's weight), so
the reported gain and its noise band are honest; `auto` keeps the stage only when the gain beats the noise."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.cross_encoder import CrossEncoder
from recsys.events import Callback, TrainEvent, emit
from recsys.metrics import ndcg_gains
from recsys.positives import rule_from_config
from recsys.ranking import rank
from recsys.sequences import user_sequences, user_values
from recsys.serving import ServingModel

RERANK_DIR = "reranker"
RERANK_FILE = "rerank.json"
LIFT = 1e6  # evaluation puts the re-ranked top N at LIFT + (N-1 ... 0): above every other item, in fused order
NO_THUMBS = pd.DataFrame(columns=["user_id", "item_id", "label"])
WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)  # fusion weights tried: 0 = first stage only


@dataclass(frozen=True)
class Catalog:
    """What the re-ranker reads of the items: titles for the history side, full texts for the candidate."""

    titles: np.ndarray  # (n_items,) str
    texts: np.ndarray  # (n_items,) str
    history: int  # how many recent titles describe the user

    def query(self, history: np.ndarray) -> str:
        recent = history[history >= 0][-self.history:]
        return "Recently: " + "; ".join(self.titles[recent].tolist())


@dataclass(frozen=True)
class Fusion:
    weight: float  # fused = (1 - weight) * z(first stage) + weight * z(re-ranker), within the top N
    top_n: int
    history: int

    def fuse(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return (1 - self.weight) * _z(first) + self.weight * _z(second)


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


class Reranker:
    """A trained cross-encoder with its fusion; re-ranks one user's candidates (torch at serving time)."""

    def __init__(self, encoder: CrossEncoder, fusion: Fusion) -> None:
        self.encoder, self.fusion = encoder, fusion

    def rescore(self, catalog: Catalog, history: np.ndarray, candidates: np.ndarray,
                first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fused scores, re-ranker scores) of `candidates` (item indices) whose first-stage scores are `first`."""
        query = catalog.query(history)
        second = self.encoder.score([query] * len(candidates), catalog.texts[candidates].tolist())
        return self.fusion.fuse(first, second), second

    def save(self, folder: Path, report: dict) -> None:
        self.encoder.save(folder / RERANK_DIR)
        (folder / RERANK_FILE).write_text(json.dumps({**asdict(self.fusion), "report": report}, indent=1))

    @classmethod
    def load(cls, folder: Path) -> Reranker | None:
        if not (folder / RERANK_FILE).exists():
            return None
        saved = json.loads((folder / RERANK_FILE).read_text())
        fusion = Fusion(saved["weight"], saved["top_n"], saved["history"])
        return cls(CrossEncoder.load(folder / RERANK_DIR), fusion)


def top_candidates(scores: np.ndarray, top_n: int, hidden: np.ndarray,
                   allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, scores) of the top N of one row of first-stage scores, `hidden` excluded."""
    picks = rank(scores[None, :], top_n, exclude=(np.zeros(len(hidden), dtype=np.int64), hidden), allowed=allowed)[0]
    return picks, scores[picks]


def candidates_for(model: ServingModel, history: np.ndarray, top_n: int, hidden: np.ndarray,
                   allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first stage's top N for one history (top_candidates of its scores)."""
    return top_candidates(model.scores(model.user_vector(history)[None, :])[0], top_n, hidden, allowed)


def training_groups(model: ServingModel, sequences: dict[str, np.ndarray], positive: dict[str, np.ndarray],
                    users: list[str], catalog: Catalog, feedback: pd.DataFrame, config: TrainConfig,
                    rng: np.random.Generator, allowed: np.ndarray | None = None) -> list[tuple[str, list[str]]]:
    """(query, [positive text, negative texts...]) groups, shuffled: one of a user's recent positive steps (by
    the positives rule) against the first stage's top-N items the user never touched; thumbs-ups against the
    user's top N and their downs. `allowed`: the items negatives may come from (those seen in training)."""
    groups = []
    usable = [u for u in users if positive[u][1:].any()]
    for user in rng.choice(usable, size=min(config.rerank_groups, len(usable) * 4), replace=True) if usable else []:
        seq = sequences[user]
        cut = int(rng.choice(np.flatnonzero(positive[user][1:])[-5:] + 1))  # a recent positive step, not the first
        picks, _ = candidates_for(model, seq[:cut], config.rerank_top_n, seq, allowed)  # the user's items hidden
        chosen = rng.choice(picks, size=min(config.rerank_negatives, len(picks)), replace=False)
        if len(chosen):
            groups.append((catalog.query(seq[:cut]), catalog.texts[[seq[cut], *chosen]].tolist()))
    groups += _thumb_groups(model, sequences, catalog, feedback, config)
    return [groups[i] for i in rng.permutation(len(groups))]


def without_held_out(sequences: dict[str, np.ndarray], positive: dict[str, np.ndarray],
                     held: set[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The sequences and positive flags the re-ranker trains on. Validation users train too (on a small data set
    they are most users), without their held-out last item: it may then be drawn as a negative, as a served user's
    next item may be (the first stage's top N holds it, the user has not touched it yet). Hiding it from the
    negatives made validation promise a gain that the future did not bear out (ml-latest-small, warm: validation
    +0.0024 ± 0.0015, referee -0.0039 ± 0.0017 per user)."""
    return ({u: s[:-1] if u in held else s for u, s in sequences.items()},
            {u: p[:-1] if u in held else p for u, p in positive.items()})


def _thumb_groups(model: ServingModel, sequences: dict[str, np.ndarray], catalog: Catalog, feedback: pd.DataFrame,
                  config: TrainConfig) -> list[tuple[str, list[str]]]:
    index = pd.Index(model.item_ids)
    groups = []
    for user, labels in feedback.groupby("user_id"):
        seq = sequences.get(str(user), np.zeros(0, dtype=np.int64))
        idx = index.get_indexer(labels["item_id"].astype(str))
        ups = [i for i, lab in zip(idx, labels["label"]) if i >= 0 and lab == "up"]
        downs = [i for i, lab in zip(idx, labels["label"]) if i >= 0 and lab == "down"]
        picks, _ = candidates_for(model, seq, config.rerank_top_n, np.array([*seq, *ups], dtype=np.int64))
        negatives = downs + [j for j in picks if j not in downs][:max(0, config.rerank_negatives - len(downs))]
        groups += [(catalog.query(seq), catalog.texts[[up, *negatives]].tolist()) for up in ups if negatives]
    return groups


def validation_lists(model: ServingModel, sequences: dict[str, np.ndarray], val_users: list[str], top_n: int,
                     allowed: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Per validation user whose held-out last item is in the first stage's top N: (history, candidates,
    first-stage scores, the target's index in candidates). Users whose target is not there gain nothing either way."""
    out = []
    for user in val_users:
        seq = sequences[user]
        history, target = seq[:-1], seq[-1]
        picks, first = candidates_for(model, history, top_n, history, allowed)
        hit = np.flatnonzero(picks == target)
        if len(hit):
            out.append((history, picks, first, int(hit[0])))
    return out


def fit_fusion(firsts: list[np.ndarray], seconds: list[np.ndarray], targets: list[int], n_users: int,
               top_n: int, history: int, k: int = 10) -> tuple[Fusion, dict]:
    """The fusion weight and an honest report: per-user NDCG@k with and without the re-ranker, each half of the
    users scored with the weight chosen on the other half (users whose target was not in the top N count as 0)."""
    gains = np.array([[_gain(w, f, s, t, k) for f, s, t in zip(firsts, seconds, targets)] for w in WEIGHTS])
    halves = np.arange(len(targets)) % 2
    fused = np.zeros(len(targets))
    for half in (0, 1):
        best = int(gains[:, halves != half].sum(1).argmax())
        fused[halves == half] = gains[best, halves == half]
    diff = np.concatenate([fused - gains[0], np.zeros(n_users - len(targets))])
    noise = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    weight = float(WEIGHTS[int(gains.sum(1).argmax())])
    return Fusion(weight, top_n, history), {
        "weight": weight, "validation_users": n_users, "users_with_target_in_top_n": len(targets),
        "ndcg_first_stage": float(gains[0].sum() / max(n_users, 1)), "ndcg_fused": float(fused.sum() / max(n_users, 1)),
        "gain": float(diff.mean()) if len(diff) else 0.0, "noise": noise}


def _gain(weight: float, first: np.ndarray, second: np.ndarray, target: int, k: int) -> float:
    fused = (1 - weight) * _z(first) + weight * _z(second)
    order = np.argsort(-fused, kind="stable")  # as served: ties go to the first stage's order
    return float(ndcg_gains(np.flatnonzero(order == target)[:1], k)[0])


def fit_reranker(model: ServingModel, interactions: pd.DataFrame, items: pd.DataFrame, feedback: pd.DataFrame,
                 config: TrainConfig, val_users: list[str], callbacks: list[Callback] = (),
                 cancel: threading.Event | None = None) -> tuple[Reranker, dict]:
    """Train a re-ranker over `model`'s lists; returns it and its report ('keep': whether it should serve)."""
    from recsys.devices import deterministic
    callbacks = list(callbacks)
    catalog = catalog_of(items, model.item_ids, config.rerank_history)
    sequences = user_sequences(interactions, model.item_ids)
    flags = rule_from_config(config.positives, interactions).weights(interactions)[0] > 0
    positive = user_values(interactions.assign(_positive=flags), "_positive")
    allowed = np.isin(model.item_ids, interactions["item_id"].astype(str).unique())  # not the cold shelf
    rng, held = np.random.default_rng(config.seed), set(val_users)
    trimmed, targets = without_held_out(sequences, positive, held)
    groups = training_groups(model, trimmed, targets, sorted(trimmed), catalog, feedback, config, rng, allowed)
    encoder = CrossEncoder.from_encoder(config.encoder_model, precision=config.precision, seed=config.seed)
    started = time.perf_counter()
    with deterministic():
        losses = encoder.train_groups(groups, config.rerank_lr, 4, callbacks, cancel)
    trained = time.perf_counter()
    emit(callbacks, TrainEvent("rerank", 0, 1, None, "fitting the fusion weight on validation users"))
    lists = validation_lists(model, sequences, [u for u in val_users if u in sequences], config.rerank_top_n, allowed)
    seconds = [encoder.score([catalog.query(h)] * len(c), catalog.texts[c].tolist()) for h, c, _, _ in lists]
    fusion, report = fit_fusion([f for _, _, f, _ in lists], seconds, [t for *_, t in lists], len(val_users),
                                config.rerank_top_n, config.rerank_history)
    keep = config.rerank == "on" or (len(lists) >= 2 and report["gain"] > report["noise"])
    report.update(groups=len(groups), final_loss=float(np.mean(losses[-10:])) if losses else None, keep=keep,
                  mode=config.rerank, summary=_summary(report, keep, config.rerank), device=encoder.device,
                  train_seconds=trained - started, validation_seconds=time.perf_counter() - trained)
    return Reranker(encoder, fusion), report


class RerankScorer:
    """Evaluation scorer (protocols.Scorer): a fitted first-stage scorer (ServedModel with `val_users`) whose
    top N per user, within the split's candidates, is re-ranked by a re-ranker trained on the split's training
    part. fit() trains the re-ranker only: the first stage is the one already evaluated."""

    name = "tuned+rerank"

    def __init__(self, first, items: pd.DataFrame, config: TrainConfig, candidates: tuple[str, ...] | None,
                 cancel: threading.Event | None = None, callbacks: list[Callback] = ()) -> None:
        self.first, self.items, self.config, self.candidates = first, items, replace(config, rerank="on"), candidates
        self.cancel, self.callbacks = cancel, list(callbacks)

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None:
        self.reranker, self.report = fit_reranker(self.first.model, train, self.items, NO_THUMBS, self.config,
                                                  self.first.val_users, self.callbacks, self.cancel)
        self.catalog = catalog_of(self.items, item_ids, self.config.rerank_history)
        self.allowed = None if self.candidates is None else np.isin(item_ids, np.asarray(self.candidates))

    def score(self, user_ids: list[str]) -> np.ndarray:
        """The first stage's scores with each user's re-ranked top N lifted above everything else, in fused order."""
        out = self.first.score(user_ids)
        empty = np.zeros(0, dtype=np.int64)
        for row, user in enumerate(user_ids):
            history = self.first.sequences.get(user, empty)
            picks, first = top_candidates(out[row], self.config.rerank_top_n, history, self.allowed)
            if len(picks):
                fused = self.reranker.rescore(self.catalog, history, picks, first)[0]
                out[row, picks[np.argsort(-fused, kind="stable")]] = LIFT + np.arange(len(picks))[::-1]
        return out


def catalog_of(items: pd.DataFrame, item_ids: np.ndarray, history: int) -> Catalog:
    """The catalog's titles and texts in the model's item order."""
    indexed = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id").reindex(item_ids)
    return Catalog(indexed["title"].fillna("").astype(str).to_numpy(), indexed["text"].fillna("").astype(str).to_numpy(),
                   history)


def _summary(report: dict, keep: bool, mode: str) -> str:
    figures = (f"validation NDCG@10 {report['ndcg_fused']:.4f} with the re-ranker vs {report['ndcg_first_stage']:.4f} "
               f"without (±{report['noise']:.4f}; fusion weight {report['weight']:.1f})")
    if mode == "on":
        return f"re-ranker on, as configured: {figures}"
    return f"re-ranker kept: {figures}" if keep else f"re-ranker not kept: {figures}, no gain beyond the noise"
