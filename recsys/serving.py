"""A model version as served: numpy arrays read from safetensors (no torch, no pickle), and the one
definition of how a history becomes a user vector and a user vector becomes scores."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recsys.attention_serving import last_states
from recsys.mapped import mapped_safetensors

WEIGHTS = "weights.safetensors"
ITEM_IDS = "item_ids.txt"
ATTENTION = "attention."  # weight-name prefix of the attention model
UNTUNED_WINDOW = 20  # the untuned scorer's user: its last this many items


@dataclass(frozen=True)
class ServingModel:
    """Everything recommend needs, as numpy arrays; rows follow `item_ids` (sorted as strings)."""

    item_ids: np.ndarray  # (n_items,) str
    item_in: np.ndarray  # (n_items, dim): how an item in a history moves the user vector
    item_out: np.ndarray  # (n_items, dim): how an item is matched as a candidate
    item_bias: np.ndarray  # (n_items,)
    position_logits: np.ndarray  # (max_history,), last entry = most recent history slot
    in_adapter: np.ndarray  # (dim, text_dim): embeds items that arrive after training
    out_adapter: np.ndarray  # (dim, text_dim)
    attention: dict = field(default_factory=dict)  # the attention model's weights (empty: recency-weighted mean)

    @property
    def kind(self) -> str:
        return "attention" if self.attention else "history"

    @property
    def max_history(self) -> int:
        return len(self.position_logits)

    def history_weights(self, n: int) -> np.ndarray:
        """Softmax weights of the last n slots (n <= max_history)."""
        logits = self.position_logits[self.max_history - n:]
        w = np.exp(logits - logits.max())
        return w / w.sum()

    def user_vector(self, history: np.ndarray) -> np.ndarray:
        """history: item indices, oldest first; only the last max_history count."""
        recent = history[history >= 0][-self.max_history:]
        if len(recent) == 0:
            return np.zeros(self.item_in.shape[1], dtype=np.float32)
        if self.attention:
            return last_states(self.attention, self.item_in[recent][None])[0]
        return self.history_weights(len(recent)) @ self.item_in[recent]

    def pulls(self, recent: np.ndarray, item: int) -> np.ndarray:
        """How much each history item (recent: indices, oldest first) raises `item`'s score: its weighted
        match for the recency-weighted mean; for attention, the score lost when that item is left out."""
        if not self.attention:
            return self.history_weights(len(recent)) * (self.item_in[recent] @ self.item_out[item])
        if len(recent) == 1:
            return np.array([float(self.user_vector(recent) @ self.item_out[item])])
        without = np.stack([np.delete(recent, i) for i in range(len(recent))])
        lost = self.user_vector(recent) @ self.item_out[item] - last_states(self.attention, self.item_in[without]) \
            @ self.item_out[item]
        return lost

    def scores(self, users: np.ndarray) -> np.ndarray:
        """(n_users, n_items) scores of user vectors (n_users, dim) against every item."""
        return users @ self.item_out.T + self.item_bias

    def user_vectors(self, histories: list[np.ndarray]) -> np.ndarray:
        """(len(histories), dim)."""
        return np.stack([self.user_vector(h) for h in histories]) if histories else \
            np.zeros((0, self.item_in.shape[1]), dtype=np.float32)

    @classmethod
    def untuned(cls, item_ids: np.ndarray, text: np.ndarray, window: int = UNTUNED_WINDOW,
                decay: float = 0.9) -> ServingModel:
        """The encoder as is: user = recency-weighted mean of the last `window` item texts; score = dot."""
        eye = np.eye(text.shape[1], dtype=np.float32)
        logits = (np.arange(window, dtype=np.float32)[::-1] * np.log(decay)).copy()
        return cls(item_ids=item_ids, item_in=text, item_out=text, item_bias=np.zeros(len(item_ids), np.float32),
                   position_logits=logits, in_adapter=eye, out_adapter=eye)

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in
                  ("item_in", "item_out", "item_bias", "position_logits", "in_adapter", "out_adapter")}
        arrays.update({f"{ATTENTION}{k}": np.ascontiguousarray(v) for k, v in self.attention.items()})
        save_file(arrays, str(folder / WEIGHTS))
        (folder / ITEM_IDS).write_text("\n".join(self.item_ids.tolist()) + "\n")

    @classmethod
    def load(cls, folder: Path, mapped: bool = True) -> ServingModel:
        """Read-only arrays mapped from the file, not read into memory: a 250,000-item version's 770 MB took
        0.7 s of a page's first visit to read, and every process serving it held its own copy. mapped=False:
        read into memory, for a folder about to be removed."""
        if mapped:
            arrays = mapped_safetensors(folder / WEIGHTS)
        else:
            from safetensors.numpy import load_file
            arrays = load_file(str(folder / WEIGHTS))
        ids = np.array((folder / ITEM_IDS).read_text().splitlines(), dtype=object)
        attention = {k[len(ATTENTION):]: arrays.pop(k) for k in list(arrays) if k.startswith(ATTENTION)}
        return cls(item_ids=ids, attention=attention, **arrays)

