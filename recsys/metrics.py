"""The ranking metrics, one definition each: HR, NDCG and MRR at k from the position of each user's target."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """Means over test users; coverage = share of the ranked catalog (or shelf) shown in some top k."""

    hr: float
    ndcg: float
    mrr: float
    coverage: float
    users: int
    k: int

    def to_dict(self) -> dict:
        return asdict(self)


def target_positions(lists: list[np.ndarray] | list[list], targets: list) -> np.ndarray:
    """0-based position of each target in its ranked list; -1 where it is missing."""
    out = np.full(len(targets), -1, dtype=np.int64)
    for row, (ranked, target) in enumerate(zip(lists, targets)):
        hits = np.flatnonzero(np.asarray(ranked, dtype=object) == target) if len(ranked) else []
        if len(hits):
            out[row] = hits[0]
    return out


def ndcg_gains(positions: np.ndarray, k: int) -> np.ndarray:
    """1 / log2(position + 2) for hits within k, 0 for misses (a single relevant item: IDCG = 1)."""
    hit = (positions >= 0) & (positions < k)
    return np.where(hit, 1.0 / np.log2(np.maximum(positions, 0) + 2.0), 0.0)


def ranking_metrics(positions: np.ndarray, k: int, coverage: float = 0.0) -> Metrics:
    """HR/NDCG/MRR@k over every test user (a missing target scores 0)."""
    hit = (positions >= 0) & (positions < k)
    n = max(len(positions), 1)
    mrr = np.where(hit, 1.0 / (np.maximum(positions, 0) + 1.0), 0.0)
    return Metrics(float(hit.sum() / n), float(ndcg_gains(positions, k).sum() / n), float(mrr.sum() / n),
                   coverage, len(positions), k)
