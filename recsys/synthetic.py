"""Synthetic data of known shape for benchmarks and tests (never shown as real data): a serving model whose item
vectors have a taste structure, and its behaviour log."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.serving import ServingModel


def taste_catalog(n: int, dim: int = 128, n_users: int = 300, topics: int = 2000, history: int = 30,
                  seed: int = 0) -> tuple[ServingModel, pd.DataFrame]:
    """A model of n items around `topics` random centres (noise 0.8 of a centre's scale, as a trained model's
    item vectors group by taste), and a log in which each user's `history` items come from 3 topics."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, topics, n)
    vec = ((rng.standard_normal((topics, dim), dtype=np.float32)[topic]
            + 0.8 * rng.standard_normal((n, dim), dtype=np.float32)) * 0.1).astype(np.float32)
    ids = np.array([f"i{i:07d}" for i in range(n)], dtype=object)
    model = ServingModel(ids, vec, vec, (0.1 * rng.standard_normal(n)).astype(np.float32), np.zeros(50, np.float32),
                         np.zeros((dim, 384), np.float32), np.zeros((dim, 384), np.float32))
    members = pd.Series(np.arange(n)).groupby(topic).agg(list)
    frames = []
    for u in range(n_users):
        pool = np.concatenate([members[t] for t in rng.choice(members.index, 3, replace=False)])
        picks = rng.choice(pool, min(history, len(pool)), replace=False)
        frames.append(pd.DataFrame({"user_id": f"u{u:04d}", "item_id": ids[picks], "timestamp": np.arange(len(picks))}))
    log = pd.concat(frames, ignore_index=True)
    return model, log.assign(row=np.arange(len(log)))
