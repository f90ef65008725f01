"""User histories as item-index sequences, and the (history -> next item) examples built from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Examples:
    """history: (n, max_history) item indices, padding = n_items, most recent last; target: (n,); weight: (n,)."""

    history: np.ndarray
    target: np.ndarray
    weight: np.ndarray


def user_sequences(train: pd.DataFrame, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's item indices in time order."""
    ordered = train.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
    index = pd.Index(item_ids).get_indexer(ordered["item_id"])
    users = ordered["user_id"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    return {users[a]: index[a:b] for a, b in zip(bounds[:-1], bounds[1:])}


def windows(flat: np.ndarray, starts: np.ndarray, positions: np.ndarray, length: int, pad: int) -> np.ndarray:
    """(n, length) the items before each position, within its own user's run, left-padded."""
    idx = positions[:, None] - np.arange(length, 0, -1)[None, :]
    return np.where(idx >= starts[:, None], flat[np.clip(idx, 0, None)], pad)


def build_training_examples(sequences: dict[str, np.ndarray], max_history: int, n_items: int,
                            skip_last: set[str] = frozenset()) -> Examples:
    """One example per interaction after a user's first: (the items before it -> it)."""
    seqs = [s for s in sequences.values()]
    flat = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    lengths = np.array([len(s) for s in seqs])
    starts = np.repeat(np.cumsum(np.r_[0, lengths[:-1]]), lengths)
    positions = np.arange(len(flat))
    keep = positions > starts
    ends = np.cumsum(lengths) - 1
    held = [e for user, e in zip(sequences, ends) if user in skip_last]
    keep[held] = False
    positions, starts = positions[keep], starts[keep]
    history = windows(flat, starts, positions, max_history, n_items)
    return Examples(history, flat[positions], np.ones(len(positions), dtype=np.float32))


def history_rows(sequences: dict[str, np.ndarray], users: list[str], max_history: int, n_items: int,
                 drop_last: bool = False) -> np.ndarray:
    """(len(users), max_history) the latest items of each user, padded on the left."""
    out = np.full((len(users), max_history), n_items, dtype=np.int64)
    for row, user in enumerate(users):
        seq = sequences.get(user, np.zeros(0, dtype=np.int64))
        seq = seq[:-1] if drop_last else seq
        seq = seq[seq >= 0][-max_history:]
        if len(seq):
            out[row, -len(seq):] = seq
    return out
