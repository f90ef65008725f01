"""The default tuned model: a learned adapter over frozen text embeddings, per-item ID vectors and learned
recency weights. Trained in torch (training.py); served in numpy from safetensors (`ServingModel`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS = "weights.safetensors"


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
        return self.history_weights(len(recent)) @ self.item_in[recent]

    @classmethod
    def untuned(cls, item_ids: np.ndarray, text: np.ndarray, window: int = 20, decay: float = 0.9) -> ServingModel:
        """The encoder as is: user = recency-weighted mean of the last `window` item texts; score = dot."""
        eye = np.eye(text.shape[1], dtype=np.float32)
        logits = (np.arange(window, dtype=np.float32)[::-1] * np.log(decay)).copy()
        return cls(item_ids=item_ids, item_in=text, item_out=text, item_bias=np.zeros(len(item_ids), np.float32),
                   position_logits=logits, in_adapter=eye, out_adapter=eye)

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file
        arrays = {k: np.ascontiguousarray(getattr(self, k)) for k in
                  ("item_in", "item_out", "item_bias", "position_logits", "in_adapter", "out_adapter")}
        save_file(arrays, str(folder / WEIGHTS))
        (folder / "item_ids.txt").write_text("\n".join(self.item_ids.tolist()) + "\n")

    @classmethod
    def load(cls, folder: Path) -> ServingModel:
        from safetensors.numpy import load_file
        arrays = load_file(str(folder / WEIGHTS))
        ids = np.array((folder / "item_ids.txt").read_text().splitlines(), dtype=object)
        return cls(item_ids=ids, **arrays)


def build_torch_model(text: np.ndarray, n_seen_mask: np.ndarray, dim: int, max_history: int, use_item_ids: bool):
    """The torch module, built lazily so that importing this file does not import torch."""
    import torch
    from torch import nn

    class HistoryModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n_items, text_dim = text.shape
            self.register_buffer("text", torch.from_numpy(text))  # (n_items, text_dim), frozen
            self.register_buffer("trainable", torch.from_numpy(n_seen_mask))  # items seen in training
            self.register_buffer("unseen", torch.zeros(n_items).masked_fill(~self.trainable, float("-inf")))
            self.in_adapter = nn.Linear(text_dim, dim, bias=False)
            self.out_adapter = nn.Linear(text_dim, dim, bias=False)
            self.use_item_ids = use_item_ids
            # ID vectors start at zero, so an item is its text until data says otherwise; slot n_items pads.
            self.in_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
            self.out_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
            self.bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)
            for emb in (self.in_id, self.out_id, self.bias):
                nn.init.zeros_(emb.weight)
            self.position_logits = nn.Parameter(torch.zeros(max_history))

        def item_in(self) -> torch.Tensor:  # (n_items + 1, dim), last row = padding
            vec = torch.cat([self.in_adapter(self.text), self.text.new_zeros(1, dim)])
            return vec + self.in_id.weight if self.use_item_ids else vec

        def item_out(self, text_only: bool = False) -> torch.Tensor:  # (n_items, dim)
            vec = self.out_adapter(self.text)
            return vec if text_only or not self.use_item_ids else vec + self.out_id.weight[:-1]

        def users(self, history: torch.Tensor) -> torch.Tensor:
            """history: (batch, max_history) item indices, padding = n_items, most recent last."""
            pad = history == self.text.shape[0]
            logits = self.position_logits.expand_as(history).masked_fill(pad, float("-inf"))
            weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # (batch, L)
            return torch.einsum("bl,bld->bd", weights, self.item_in()[history])

        def logits(self, users: torch.Tensor, text_only: bool = False) -> torch.Tensor:
            return self.both_logits(users)[1 if text_only else 0]

        def both_logits(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(full, text-only) scores, (batch, n_items) each; the text adapter runs once.
            Items never seen in training score -inf, so their ID vectors and bias stay zero."""
            text_scores = users @ self.out_adapter(self.text).T + self.unseen
            if not self.use_item_ids:
                return text_scores, text_scores
            return text_scores + users @ self.out_id.weight[:-1].T + self.bias.weight[:-1, 0], text_scores

        def to_serving(self, item_ids: np.ndarray) -> ServingModel:
            with torch.no_grad():
                bias = self.bias.weight[:-1, 0].clone() if self.use_item_ids else torch.zeros(len(item_ids))
                seen = self.trainable
                if seen.any() and (~seen).any():  # a never-seen item starts as an unpopular one
                    bias[~seen] = torch.quantile(bias[seen].float(), 0.1)
                return ServingModel(item_ids=item_ids, item_in=_np(self.item_in()[:-1]), item_out=_np(self.item_out()),
                                    item_bias=_np(bias), position_logits=_np(self.position_logits),
                                    in_adapter=_np(self.in_adapter.weight), out_adapter=_np(self.out_adapter.weight))

    return HistoryModel()


def _np(tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().astype(np.float32)
