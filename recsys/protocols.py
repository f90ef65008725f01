"""The warm (leave-last-out) and cold-item protocols of EVALUATION.md, and `evaluate`: fit a scorer on a
split's training part, rank with the one ranking rule (ranking.py), score with the one metric code (metrics.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.metrics import Metrics, ndcg_gains, ranking_metrics, target_positions
from recsys.ranking import rank

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


class Scorer(Protocol):
    """Anything that scores every catalog item for a batch of users (rows follow `item_ids`)."""

    name: str

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None: ...

    def score(self, user_ids: list[str]) -> np.ndarray: ...  # (n_users, n_items), -inf = cannot score


def warm_split(interactions: pd.DataFrame, positive: np.ndarray | None = None) -> Split:
    """Users with >= 3 interactions give their last one (by time, then file row) to the test set; with a
    `positive` mask (the positives rule, per row of `interactions`), their last positive one."""
    df = _ordered(interactions, positive)
    counts = df.groupby("user_id")["item_id"].transform("size")
    last = df[(counts >= 3) & df["_positive"]].groupby("user_id").tail(1)
    # what a test user did after their held-out positive (disliked items) is the future: out of training too
    step = df.groupby("user_id").cumcount()
    held_at = pd.Series(step[last.index].to_numpy(), index=last["user_id"].to_numpy())
    after = df["user_id"].map(held_at).to_numpy() < step.to_numpy()  # users without a test row: NaN, False
    train = df[~after].drop(index=last.index, columns="_positive")
    return Split("warm", train.reset_index(drop=True), last[["user_id", "item_id"]].reset_index(drop=True))


def _ordered(interactions: pd.DataFrame, positive: np.ndarray | None) -> pd.DataFrame:
    flags = np.ones(len(interactions), bool) if positive is None else np.asarray(positive, bool)
    return interactions.assign(_positive=flags).sort_values(["user_id", "timestamp", "row"], kind="mergesort")


def cold_items(interactions: pd.DataFrame, share: float = COLD_SHARE, seed: int = COLD_SEED) -> list[str]:
    items = np.sort(interactions["item_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(items, size=int(share * len(items)), replace=False).tolist())


def cold_split(interactions: pd.DataFrame, share: float = COLD_SHARE, seed: int = COLD_SEED,
               positive: np.ndarray | None = None) -> Split:
    """Hide every interaction with 15% of the items; target = each user's last cold item (last positive one with
    a `positive` mask); shelf = cold items."""
    df = _ordered(interactions, positive)
    cold = cold_items(df, share, seed)
    is_cold = df["item_id"].isin(set(cold))
    warm = df[~is_cold].drop(columns="_positive")
    last = df[is_cold & df["_positive"]].groupby("user_id").tail(1)
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


def rank_lists(scorer: Scorer, split: Split, item_ids: np.ndarray, k: int = 10, batch: int = 256) -> dict[str, list[str]]:
    """Each test user's top-k item ids, history excluded, restricted to the split's candidates."""
    users = split.test["user_id"].astype(str).tolist()
    allowed = np.isin(item_ids, np.asarray(split.candidates)) if split.candidates is not None else None
    out: dict[str, list[str]] = {}
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        seen = history_matrix(split.train, chunk, item_ids).nonzero()
        for user, idx in zip(chunk, rank(scorer.score(chunk), k, exclude=seen, allowed=allowed)):
            out[user] = [item_ids[j] for j in idx]
    return out


def score_lists(test: pd.DataFrame, lists: dict[str, list[str]], k: int, n_items: int) -> Metrics:
    """HR/NDCG/MRR@k over every test user (a user with no list scores 0) and catalog coverage."""
    users, targets = test["user_id"].astype(str).tolist(), test["item_id"].astype(str).tolist()
    positions = target_positions([lists.get(u, [])[:k] for u in users], targets)
    shown = {i for lst in lists.values() for i in lst[:k]}
    return ranking_metrics(positions, k, len(shown) / max(n_items, 1))


def per_user_ndcg(scorer: Scorer, split: Split, item_ids: np.ndarray, k: int = 10) -> np.ndarray:
    """(n_test_users,) each test user's NDCG@k gain, in split.test order (for paired comparisons)."""
    scorer.fit(split.train, item_ids)
    lists = rank_lists(scorer, split, item_ids, k)
    users, targets = split.test["user_id"].astype(str).tolist(), split.test["item_id"].astype(str).tolist()
    return ndcg_gains(target_positions([lists.get(u, []) for u in users], targets), k)


def evaluate(scorer: Scorer, split: Split, item_ids: np.ndarray, k: int = 10) -> Metrics:
    """Fit on the split's training part, rank, score. item_ids: the catalog, sorted as strings."""
    scorer.fit(split.train, item_ids)
    lists = rank_lists(scorer, split, item_ids, k)
    n_items = len(split.candidates) if split.candidates is not None else len(item_ids)
    return score_lists(split.test, lists, k, n_items)
