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


@dataclass(frozen=True)
class UserLog:
    """A log ordered per user (by time, then file row), in the form that sequences over any catalog are cut
    from: an imported data set keeps it beside its files (Workspace.user_log), so that loading a model version
    does not sort and index a million-row log again (1.5-2 s at 1M rows)."""

    users: np.ndarray  # (n_users,) user ids, sorted
    bounds: np.ndarray  # (n_users + 1,) where each user's run starts in `items`
    items: np.ndarray  # (n_interactions,) indices into `item_ids`
    item_ids: np.ndarray  # the log's distinct item ids

    @classmethod
    def of(cls, train: pd.DataFrame) -> UserLog:
        ordered = train.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
        codes, item_ids = pd.factorize(ordered["item_id"])
        users = ordered["user_id"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True]) if len(users) else np.zeros(1, int)
        return cls(users[bounds[:-1]], bounds.astype(np.int64), codes.astype(np.int32), np.asarray(item_ids))

    def sequences(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Each user's indices into `item_ids`, in time order (-1: an item that catalog lacks)."""
        mapping = np.r_[pd.Index(item_ids).get_indexer(self.item_ids), -1]  # a missing id (code -1): -1
        flat = mapping[self.items]
        return {user: flat[a:b] for user, a, b in zip(self.users.tolist(), self.bounds[:-1], self.bounds[1:])}

    def save(self, path) -> None:
        import io

        from recsys.storage import atomic_write_bytes
        buf = io.BytesIO()
        np.savez(buf, users=np.asarray(self.users, dtype=str), bounds=self.bounds, items=self.items,
                 item_ids=np.asarray(self.item_ids, dtype=str))  # a workspace's ids are text: no pickle
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> UserLog:
        with np.load(path, allow_pickle=False) as z:
            log = cls(z["users"], z["bounds"], z["items"], z["item_ids"])
        fits = (len(log.bounds) == len(log.users) + 1 and log.bounds[-1] == len(log.items)
                and (not len(log.items) or log.items.max() < len(log.item_ids)))
        if not fits:
            raise ValueError(f"{path}: the saved per-user log does not fit together")
        return log


def user_sequences(train: pd.DataFrame, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's item indices in time order."""
    return UserLog.of(train).sequences(item_ids)


def user_values(train: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    """Each user's values of `column`, in the order of user_sequences."""
    ordered = train.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
    return _per_user(ordered, ordered[column].to_numpy())


def _per_user(ordered: pd.DataFrame, values: np.ndarray) -> dict[str, np.ndarray]:
    users = ordered["user_id"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    return {users[a]: values[a:b] for a, b in zip(bounds[:-1], bounds[1:])}


def windows(flat: np.ndarray, starts: np.ndarray, positions: np.ndarray, length: int, pad: int) -> np.ndarray:
    """(n, length) the items before each position, within its own user's run, left-padded."""
    idx = positions[:, None] - np.arange(length, 0, -1)[None, :]
    return np.where(idx >= starts[:, None], flat[np.clip(idx, 0, None)], pad)


def build_training_examples(sequences: dict[str, np.ndarray], max_history: int, n_items: int,
                            skip_last: set[str] = frozenset(), weights: dict[str, np.ndarray] | None = None) -> Examples:
    """One example per positive interaction after a user's first: (the items before it -> it); weights: per
    interaction, as user_sequences orders them (0 = not a positive, no example)."""
    seqs = [s for s in sequences.values()]
    flat = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    lengths = np.array([len(s) for s in seqs])
    starts = np.repeat(np.cumsum(np.r_[0, lengths[:-1]]), lengths)
    positions = np.arange(len(flat))
    keep = positions > starts
    ends = np.cumsum(lengths) - 1
    held = [e for user, e in zip(sequences, ends) if user in skip_last]
    keep[held] = False
    flat_w = np.concatenate([weights[u] for u in sequences]) if weights is not None and seqs else \
        np.ones(len(flat), dtype=np.float32)
    keep &= flat_w > 0
    positions, starts = positions[keep], starts[keep]
    history = windows(flat, starts, positions, max_history, n_items)
    return Examples(history, flat[positions], flat_w[positions].astype(np.float32))


def dislike_examples(sequences: dict[str, np.ndarray], disliked: dict[str, np.ndarray], max_history: int,
                     n_items: int) -> Examples:
    """(the items before it -> it) for each disliked interaction (e.g. a 1-star rating): pushed down in training."""
    users = [u for u in sequences if disliked[u].any()]
    if not users:
        return Examples(np.zeros((0, max_history), np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    flat = np.concatenate([sequences[u] for u in users])
    lengths = np.array([len(sequences[u]) for u in users])
    starts = np.repeat(np.cumsum(np.r_[0, lengths[:-1]]), lengths)
    positions = np.flatnonzero(np.concatenate([disliked[u] for u in users]))
    history = windows(flat, starts[positions], positions, max_history, n_items)
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


def build_windows(sequences: dict[str, np.ndarray], max_history: int, n_items: int,
                  skip_last: set[str] = frozenset(), weights: dict[str, np.ndarray] | None = None) -> Examples:
    """The attention model's examples: each user's sequence cut into windows of `max_history` steps from its
    end; at each step the input is an item and the target the item after it (padding = n_items, no target), so
    every interaction after a user's first is a target exactly once, unless its weight is 0 (not a positive: then
    it is only an input). A negative weight marks a disliked target (pushed down in training).
    history, target, weight: (n, max_history)."""
    seqs = [s[:-1] if u in skip_last else s for u, s in sequences.items()]
    wts = [np.ones(len(s), np.float32) if weights is None else weights[u][:len(s)] for u, s in zip(sequences, seqs)]
    ends = [np.arange(len(s) - 1, 0, -max_history) for s in seqs]  # last target index of each window
    offsets = np.cumsum([0] + [len(s) for s in seqs[:-1]])
    starts = np.repeat(offsets, [len(e) for e in ends])
    flat = np.concatenate(seqs + [np.zeros(0, np.int64)]).astype(np.int64)
    flat_w = np.concatenate(wts + [np.zeros(0, np.float32)]).astype(np.float32)
    t = np.concatenate(ends + [np.zeros(0, np.int64)])[:, None] - max_history + 1 + np.arange(max_history)[None, :]
    t = t + starts[:, None]  # flat index of each step's target
    has_input, has_target = t - 1 >= starts[:, None], t >= starts[:, None] + 1
    has_target &= flat_w[np.clip(t, 0, None)] != 0
    history = np.where(has_input, flat[np.clip(t - 1, 0, None)], n_items)
    target = np.where(has_target, flat[np.clip(t, 0, None)], n_items)
    weight = np.where(has_target, flat_w[np.clip(t, 0, None)], 0).astype(np.float32)
    keep = has_target.any(axis=1)  # a window whose every step weighs 0 teaches nothing
    return Examples(history[keep], target[keep], weight[keep])


def as_windows(examples: Examples, n_items: int) -> Examples:
    """(history -> one next item) examples in window form: the target sits at the last step."""
    target = np.full(examples.history.shape, n_items, dtype=np.int64)
    weight = np.zeros(examples.history.shape, dtype=np.float32)
    target[:, -1], weight[:, -1] = examples.target, examples.weight
    return Examples(examples.history, target, weight)


def concat_examples(a: Examples, b: Examples) -> Examples:
    return Examples(np.concatenate([a.history, b.history]), np.concatenate([a.target, b.target]),
                    np.concatenate([a.weight, b.weight]))
