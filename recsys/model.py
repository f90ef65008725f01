"""The default tuned model in torch: a learned adapter over frozen text embeddings, per-item ID vectors and
learned recency weights. Trained by trainer.py; exported to a numpy `ServingModel` for serving."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recsys.serving import ServingModel


class HistoryModel(nn.Module):
    """user = recency-weighted mean of its history's item vectors; score = user . item + bias.
    An item vector is adapter(text) + an ID vector (zero at start, so an item is its text until data says
    otherwise). Items never seen in training score -inf, so their ID vectors and bias stay zero."""

    def __init__(self, text: np.ndarray, seen: np.ndarray, dim: int, max_history: int, use_item_ids: bool) -> None:
        super().__init__()
        n_items, text_dim = text.shape
        self.register_buffer("text", torch.from_numpy(text))  # (n_items, text_dim), frozen
        self.register_buffer("trainable", torch.from_numpy(seen))  # (n_items,) bool: seen in training
        self.register_buffer("unseen", torch.zeros(n_items).masked_fill(~self.trainable, float("-inf")))
        self.in_adapter = nn.Linear(text_dim, dim, bias=False)
        self.out_adapter = nn.Linear(text_dim, dim, bias=False)
        self.use_item_ids, self.dim = use_item_ids, dim
        # Slot n_items is the padding item of a short history.
        self.in_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.out_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)
        for emb in (self.in_id, self.out_id, self.bias):
            nn.init.zeros_(emb.weight)
        self.position_logits = nn.Parameter(torch.zeros(max_history))

    @property
    def n_items(self) -> int:
        return self.text.shape[0]

    def item_in(self) -> torch.Tensor:  # (n_items + 1, dim), last row = padding
        vec = torch.cat([self.in_adapter(self.text), self.text.new_zeros(1, self.dim)])
        return vec + self.in_id.weight if self.use_item_ids else vec

    def item_out(self, text_only: bool = False) -> torch.Tensor:  # (n_items, dim)
        vec = self.out_adapter(self.text)
        return vec if text_only or not self.use_item_ids else vec + self.out_id.weight[:-1]

    def users(self, history: torch.Tensor) -> torch.Tensor:
        """history: (batch, max_history) item indices, padding = n_items, most recent last -> (batch, dim)."""
        pad = history == self.n_items
        logits = self.position_logits.expand_as(history).masked_fill(pad, float("-inf"))
        weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # (batch, L)
        return torch.einsum("bl,bld->bd", weights, self.item_in()[history])

    def logits(self, users: torch.Tensor, text_only: bool = False) -> torch.Tensor:
        return self.both_logits(users)[1 if text_only else 0]

    def both_logits(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(full, text-only) scores, (batch, n_items) each; the text adapter runs once."""
        text_scores = users @ self.out_adapter(self.text).T + self.unseen
        if not self.use_item_ids:
            return text_scores, text_scores
        return text_scores + users @ self.out_id.weight[:-1].T + self.bias.weight[:-1, 0], text_scores

    @torch.no_grad()
    def to_serving(self, item_ids: np.ndarray) -> ServingModel:
        bias = self.bias.weight[:-1, 0].clone() if self.use_item_ids else torch.zeros(len(item_ids))
        seen = self.trainable
        if seen.any() and (~seen).any():  # a never-seen item starts as an unpopular one
            bias[~seen] = torch.quantile(bias[seen].float(), 0.1)
        return ServingModel(item_ids=item_ids, item_in=_np(self.item_in()[:-1]), item_out=_np(self.item_out()),
                            item_bias=_np(bias), position_logits=_np(self.position_logits),
                            in_adapter=_np(self.in_adapter.weight), out_adapter=_np(self.out_adapter.weight))


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().astype(np.float32)
