"""The warm (leave-last-out) and cold-item protocols of EVALUATION.md, and the ranking metrics."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

COLD_SHARE = 0.15
COLD_SEED = 1


@dataclass(frozen=True)
class Split:
    """train: interactions (Dataset layout); test: one (user_id, item_id) target per test user;
    candidates: the item ids a ranking may use (None = the whole catalog)."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    candidates: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Metrics:
    hr: float
    ndcg: float
    mrr: float
    coverage: float
    users: int
    k: int

    def to_dict(self) -> dict:
        return asdict(self)


class Scorer(Protocol):
    """Anything that scores every catalog item for a batch of users (rows follow `item_ids`)."""

    name: str

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None: ...

    def score(self, user_ids: list[str]) -> np.ndarray: ...  # (n_users, n_items), -inf = cannot score


def warm_split(interactions: pd.DataFrame) -> Split:
    """Users with >= 3 interactions give their last one (by time, then file row) to the test set."""
    df = interactions.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
    counts = df.groupby("user_id")["item_id"].transform("size")
    last = df[counts >= 3].groupby("user_id").tail(1)
    return Split("warm", df.drop(last.index).reset_index(drop=True), last[["user_id", "item_id"]].reset_index(drop=True))


def cold_items(interactions: pd.DataFrame, share: float = COLD_SHARE, seed: int = COLD_SEED) -> list[str]:
    items = np.sort(interactions["item_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(items, size=int(share * len(items)), replace=False).tolist())


def cold_split(interactions: pd.DataFrame, share: float = COLD_SHARE, seed: int = COLD_SEED) -> Split:
    """Hide every interaction with 15% of the items; target = each user's last cold item; shelf = cold items."""
    df = interactions.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
    cold = cold_items(df, share, seed)
    is_cold = df["item_id"].isin(set(cold))
    warm = df[~is_cold]
    last = df[is_cold].groupby("user_id").tail(1)
    last = last[last["user_id"].isin(set(warm["user_id"]))]
    return Split("cold", warm.reset_index(drop=True), last[["user_id", "item_id"]].reset_index(drop=True), tuple(cold))


def history_matrix(train: pd.DataFrame, user_ids: list[str], item_ids: np.ndarray) -> sp.csr_matrix:
    """(n_users, n_items) 0/1 matrix of who interacted with what."""
    uidx = {u: i for i, u in enumerate(user_ids)}
    iidx = pd.Index(item_ids)
    sub = train[train["user_id"].isin(uidx)]
    rows = sub["user_id"].map(uidx).to_numpy()
    cols = iidx.get_indexer(sub["item_id"])
    keep = cols >= 0
    data = np.ones(int(keep.sum()), dtype=np.float32)
    x = sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(user_ids), len(item_ids)))
    x.data[:] = 1.0
    return x


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of the best scores; ties go to the lower index, as the referee's stable sort does."""
    k = min(k, scores.shape[1])
    if scores.shape[1] <= 50_000:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def rank_lists(scorer: Scorer, split: Split, item_ids: np.ndarray, k: int = 10, batch: int = 256) -> dict[str, list[str]]:
    """Each test user's top-k item ids, history excluded, restricted to the split's candidates."""
    users = split.test["user_id"].astype(str).tolist()
    allowed = np.isin(item_ids, np.asarray(split.candidates)) if split.candidates is not None else None
    out: dict[str, list[str]] = {}
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        scores = np.asarray(scorer.score(chunk), dtype=np.float64)
        scores[history_matrix(split.train, chunk, item_ids).nonzero()] = -np.inf
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        for row, (user, idx) in enumerate(zip(chunk, top_k(scores, k))):
            out[user] = [item_ids[j] for j in idx if np.isfinite(scores[row, j])]
    return out


def score_lists(test: pd.DataFrame, lists: dict[str, list[str]], k: int, n_items: int) -> Metrics:
    """HR/NDCG/MRR@k over every test user (a user with no list scores 0) and catalog coverage."""
    hr = ndcg = mrr = 0.0
    for user, target in zip(test["user_id"].astype(str), test["item_id"].astype(str)):
        ranked = lists.get(user, [])[:k]
        if target in ranked:
            pos = ranked.index(target)
            hr, ndcg, mrr = hr + 1, ndcg + 1 / np.log2(pos + 2), mrr + 1 / (pos + 1)
    n = max(len(test), 1)
    shown = {i for lst in lists.values() for i in lst[:k]}
    return Metrics(hr / n, ndcg / n, mrr / n, len(shown) / max(n_items, 1), len(test), k)


def evaluate(scorer: Scorer, split: Split, item_ids: np.ndarray, k: int = 10) -> Metrics:
    """Fit on the split's training part, rank, score. item_ids: the catalog, sorted as strings."""
    scorer.fit(split.train, item_ids)
    lists = rank_lists(scorer, split, item_ids, k)
    n_items = len(split.candidates) if split.candidates is not None else len(item_ids)
    return score_lists(split.test, lists, k, n_items)
