"""Training the default model: examples from user histories (plus feedback), full-softmax loss,
early stopping on held-out next items, progress through callbacks, cancel through an Event."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from recsys.encoder import DEFAULT_MODEL
from recsys.evaluate import top_k


class Cancelled(Exception):
    """Raised inside a training loop when its cancel event is set."""


@dataclass(frozen=True)
class TrainConfig:
    dim: int = 128  # width of the tuned space; 64-256 gave the same ranking on ml-latest-small
    max_history: int = 50  # recent items that form a user; recency weights are learned per slot
    use_item_ids: bool = True  # ID vectors learn taste that the text does not show (warm items only)
    text_loss_weight: float = 1.0  # a text-only loss keeps the adapter good for cold (new) items
    epochs: int = 20
    batch_size: int = 1024
    lr: float = 5e-3
    weight_decay: float = 0.0  # AdamW decay; 1.0 helped the demo data (warm 0.066 -> 0.078), hurt MovieLens (0.076 -> 0.048)
    # Share of history slots hidden at each training step. ml-latest-small (referee NDCG@10): 0 -> warm 0.0760,
    # cold 0.0631; 0.5 -> warm 0.0689, cold 0.0674. Demo data: warm 0.0664 -> 0.0836 (EASE 0.0820).
    history_dropout: float = 0.5
    patience: int = 2  # validation checks without gain before stopping
    check_every_steps: int = 50  # validate after each epoch, but no more often than this
    min_steps: int = 600  # no early stop before this many steps: on small data sets an epoch is a few steps
    val_users: int = 1000  # users whose last training item is held out for early stopping
    max_seconds: float = 180.0  # training-loop budget; the best epoch so far is kept
    feedback_weight: float = 3.0  # how much one thumb weighs against one logged interaction
    seed: int = 0
    precision: str = "auto"  # "auto": bf16 autocast where the hardware is fast at it; "fp32"
    encoder_model: str = DEFAULT_MODEL
    encoder_tuning: str = "none"  # "none" | "lora" | "full": tune the language model itself first
    encoder_pairs: int = 2000  # (history -> next item) text pairs for encoder tuning (~25/s on 2 CPU cores, full)
    encoder_lr: float = 5e-5
    encoder_epochs: int = 1
    lora_rank: int = 8
    kind: str = "adapter"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {"dim": self.dim >= 2, "max_history": self.max_history >= 1, "epochs": self.epochs >= 1,
                  "batch_size": self.batch_size >= 2, "lr": self.lr > 0, "max_seconds": self.max_seconds > 0,
                  "encoder_tuning": self.encoder_tuning in ("none", "lora", "full"), "patience": self.patience >= 1,
                  "check_every_steps": self.check_every_steps >= 1, "min_steps": self.min_steps >= 1,
                  "feedback_weight": self.feedback_weight >= 0, "encoder_pairs": self.encoder_pairs >= 8,
                  "text_loss_weight": self.text_loss_weight >= 0, "weight_decay": self.weight_decay >= 0,
                  "history_dropout": 0 <= self.history_dropout < 1,
                  "precision": self.precision in ("auto", "fp32"), "lora_rank": self.lora_rank >= 1}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting: {', '.join(bad)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config of a saved version (its config.json also holds keys that are not settings). Versions
        saved before history dropout existed were trained without it."""
        known = {"history_dropout": 0.0, **{k: v for k, v in saved.items() if k in cls.__dataclass_fields__}}
        return cls(**known)


@dataclass(frozen=True)
class TrainEvent:
    stage: str
    step: int
    total: int
    loss: float | None = None
    message: str = ""


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


def validation_ndcg(model, sequences: dict[str, np.ndarray], users: list[str], max_history: int, k: int = 10) -> float:
    """NDCG@k of each validation user's last training item, the rest of their history excluded."""
    import torch
    n_items = model.text.shape[0]
    history = history_rows(sequences, users, max_history, n_items, drop_last=True)
    with torch.no_grad():
        scores = model.logits(model.users(torch.from_numpy(history).to(model.text.device))).float().cpu().numpy()
    total = 0.0
    for row, user in enumerate(users):
        seq = sequences[user]
        scores[row, seq[:-1][seq[:-1] >= 0]] = -np.inf
        ranked = top_k(scores[row:row + 1], k)[0]
        hits = np.flatnonzero(ranked == seq[-1])
        total += 1 / np.log2(hits[0] + 2) if len(hits) else 0.0
    return total / max(len(users), 1)


Callback = Callable[[TrainEvent], None]


def emit(callbacks, event: TrainEvent) -> None:
    for cb in callbacks:
        cb(event)
