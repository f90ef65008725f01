"""The tuned models in torch. Both share one item tower (adapter(text) + a per-item ID residual + a bias, so a
new item still works from its text); they differ in how a history becomes a user vector:
- `HistoryModel` ("history"): a learned recency-weighted mean of the history's item vectors;
- `attention.SequenceModel` ("attention"): causal self-attention over the history (SASRec-style).
Trained by trainer.py; exported to a numpy `ServingModel` for serving."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recsys.devices import bucketed
from recsys.serving import ServingModel


class ItemTower(nn.Module):
    """An item vector is adapter(text) + an ID vector. The ID vector starts at zero, or (id_start) at the item's
    place in the training log's co-occurrence spectrum (spectrum.py; zero for an item without interactions), so an
    item is its text plus what the log's structure says until training says more. Items never seen in training
    score -inf, so their candidate-side own ID part and bias stay where they started (zero for an item not in the
    log).
    shared_ids: an item's history-side and candidate-side ID vectors are a part both share plus each side's own
    part (the start goes into the shared part; with id_init the own parts start random, the shared one at zero).
    The shared part takes the gradients of both roles, as SASRec's single item table does, while the own parts
    leave the roles free to differ (tied_ids: one table, no own parts). So an item only ever in histories also
    moves its candidate side, through the shared part (trainer._place_new_items then places that side from its
    text neighbours, as without shared parts). Served, each side is the sum, as without it."""

    def __init__(self, text: np.ndarray, seen: np.ndarray, dim: int, use_item_ids: bool, id_init: float = 0.0,
                 sparse_ids: bool = False, tied_ids: bool = False, id_start: np.ndarray | None = None,
                 shared_ids: bool = False) -> None:
        super().__init__()
        n_items, text_dim = text.shape
        self.register_buffer("text", torch.from_numpy(text))  # (n_items, text_dim), frozen
        self.register_buffer("trainable", torch.from_numpy(seen))  # (n_items,) bool: seen in training
        self.register_buffer("unseen", torch.zeros(n_items).masked_fill(~self.trainable, float("-inf")))
        self.in_adapter = nn.Linear(text_dim, dim, bias=False)
        self.out_adapter = nn.Linear(text_dim, dim, bias=False)
        self.use_item_ids, self.dim = use_item_ids, dim
        self.target_counts: np.ndarray | None = None  # set by the trainer: the sampled softmax's proposal
        # Slot n_items is the padding item of a short history. sparse_ids: the ID tables get sparse gradients (only
        # the rows a step looked up), for lazy optimiser updates on large catalogs (step.make_optimiser).
        self.sparse_ids = sparse_ids
        self.in_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items, sparse=sparse_ids)
        self.out_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items, sparse=sparse_ids)
        self.bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items, sparse=sparse_ids)
        for emb in (self.in_id, self.out_id, self.bias):
            nn.init.zeros_(emb.weight)
        if id_init > 0:
            for emb in (self.in_id, self.out_id):
                with torch.no_grad():
                    emb.weight[:-1].normal_(0.0, id_init)
        if tied_ids:  # one table for history and candidates (drawn after both, so the other draws stay as they were)
            self.out_id = self.in_id
        self.shared_id = None
        if shared_ids and use_item_ids and not tied_ids:
            self.shared_id = nn.Embedding(n_items + 1, dim, padding_idx=n_items, sparse=sparse_ids)
            nn.init.zeros_(self.shared_id.weight)
        if id_start is not None:  # the log's co-occurrence spectrum (spectrum.py) in the first columns of both sides
            with torch.no_grad():
                for emb in (self.in_id, self.out_id) if self.shared_id is None else (self.shared_id,):
                    emb.weight[:-1, :id_start.shape[1]] = torch.from_numpy(id_start)

    @property
    def n_items(self) -> int:
        return self.text.shape[0]

    def id_tables(self) -> list[nn.Parameter]:
        """The per-item tables (ID parts and bias), each once."""
        tables = (self.in_id, self.out_id, self.shared_id, self.bias)
        return list({id(t.weight): t.weight for t in tables if t is not None}.values())

    def _ids(self, own: nn.Embedding, rows: torch.Tensor | None = None) -> torch.Tensor:
        """One side's ID vectors (own part + shared part) of `rows`, or of every slot (padding last)."""
        if rows is None:
            return own.weight if self.shared_id is None else own.weight + self.shared_id.weight
        return own(rows) if self.shared_id is None else own(rows) + self.shared_id(rows)

    def item_in(self) -> torch.Tensor:  # (n_items + 1, dim), last row = padding
        vec = torch.cat([self.in_adapter(self.text), self.text.new_zeros(1, self.dim)])
        return vec + self._ids(self.in_id) if self.use_item_ids else vec

    def history_vectors(self, history: torch.Tensor) -> torch.Tensor:
        """item_in()[history] (padding -> 0), computing the adapter only for the items the batch holds."""
        vec, inverse = self.history_table(history)
        return vec[inverse]

    def history_table(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the item_in vectors of the batch's distinct items (padding -> 0), history as rows of that table)."""
        unique, inverse = unique_inverse(history, self.n_items + 1)
        real = unique[unique < self.n_items]
        vec = torch.cat([_adapted(self.in_adapter, self.text, real), self.text.new_zeros(len(unique) - len(real), self.dim)])
        if self.use_item_ids:
            vec = vec + self._ids(self.in_id, unique)
        return vec, inverse

    def item_out(self, text_only: bool = False) -> torch.Tensor:  # (n_items, dim)
        vec = self.out_adapter(self.text)
        return vec if text_only or not self.use_item_ids else vec + self._ids(self.out_id)[:-1]

    def logits(self, users: torch.Tensor, text_only: bool = False, table=None) -> torch.Tensor:
        """Scores of every item, (batch, n_items): for validation. Training keeps them as their factors
        (text_out, full_out) for fused_softmax. table: score_table(text_only), when already at hand."""
        items, bias = self.score_table(text_only) if table is None else table
        return users @ items.T + bias

    def score_table(self, text_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(items, bias) that logits scores users against: every item's vector and bias."""
        text_items, text_bias = self.text_out()
        return (text_items, text_bias) if text_only else self.full_out(text_items)

    def text_out(self, candidates: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(items, bias) of the text-only scores (user @ items.T + bias) of every item, or of `candidates`."""
        if candidates is None:
            return self.out_adapter(self.text), self.unseen
        return _adapted(self.out_adapter, self.text, candidates), self.unseen[candidates]

    def full_out(self, text_items: torch.Tensor, candidates: torch.Tensor | None = None):
        """(items, bias) of the full scores of every item, or of `candidates`, from their text_out items (the
        text adapter runs once for both paths): text + ID vector, unseen mask + learned bias."""
        unseen = self.unseen if candidates is None else self.unseen[candidates]
        if not self.use_item_ids:
            return text_items, unseen
        if candidates is None:
            return text_items + self._ids(self.out_id)[:-1], unseen + self.bias.weight[:-1, 0]
        return text_items + self._ids(self.out_id, candidates), unseen + self.bias(candidates)[:, 0]

    def users(self, history: torch.Tensor) -> torch.Tensor:
        """history: (batch, max_history) item indices, padding = n_items, most recent last -> (batch, dim)."""
        raise NotImplementedError

    def train_rows(self, history: torch.Tensor, target: torch.Tensor, weight: torch.Tensor):
        """(user vectors, targets, weights) of a training batch: one row per target. The history model's
        targets are (batch,) next items; the attention model's are (batch, max_history), padding = no target."""
        return self.users(history), target, weight

    def seen_items(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(rows of train_rows, m) the items each training row's reader already has (-1: none), its own target
        excepted: serving never recommends them, so training does not score them as the target's rivals
        (TrainConfig.mask_seen). history: the whole (not dropped) window."""
        return _seen(history, target[:, None], self.n_items)

    @torch.no_grad()
    def item_arrays(self, n: int) -> dict:
        bias = self.bias.weight[:-1, 0].clone() if self.use_item_ids else torch.zeros(n)
        seen = self.trainable
        if seen.any() and (~seen).any():  # a never-seen item starts as an unpopular one
            bias[~seen] = torch.quantile(bias[seen].float(), 0.1)
        return dict(item_in=_np(self.item_in()[:-1]), item_out=_np(self.item_out()), item_bias=_np(bias),
                    in_adapter=_np(self.in_adapter.weight), out_adapter=_np(self.out_adapter.weight))


class HistoryModel(ItemTower):
    """user = recency-weighted mean of its history's item vectors; score = user . item + bias."""

    def __init__(self, text: np.ndarray, seen: np.ndarray, dim: int, max_history: int, use_item_ids: bool,
                 id_init: float = 0.0, sparse_ids: bool = False, tied_ids: bool = False,
                 id_start: np.ndarray | None = None, shared_ids: bool = False) -> None:
        super().__init__(text, seen, dim, use_item_ids, id_init, sparse_ids, tied_ids, id_start, shared_ids)
        self.position_logits = nn.Parameter(torch.zeros(max_history))

    def users(self, history: torch.Tensor) -> torch.Tensor:
        pad = history == self.n_items
        logits = self.position_logits.expand_as(history).masked_fill(pad, float("-inf"))
        weights = torch.softmax(logits, dim=1).nan_to_num(0.0)  # (batch, L)
        vec, inverse = self.history_table(history)  # a weighted sum of table rows, without a (batch, L, dim) copy
        return F.embedding_bag(inverse, vec.float(), per_sample_weights=weights.float(), mode="sum")

    @torch.no_grad()
    def to_serving(self, item_ids: np.ndarray) -> ServingModel:
        return ServingModel(item_ids=item_ids, position_logits=_np(self.position_logits),
                            **self.item_arrays(len(item_ids)))


def _adapted(layer: nn.Module, text: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """layer(text[rows]) for a per-step number of rows, computed on a bucket's worth of rows (devices.bucketed: a
    matmul kernel per size). The row index is padded (with row 0), not the gathered text: one copy of the rows."""
    n = len(rows)
    return layer(text[F.pad(rows, (0, bucketed(n) - n))])[:n]


def unique_inverse(index: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.unique(index, return_inverse=True) for values in [0, size). Where size is within a few times the
    index's length (a batch's histories: 2,048 x 50 slots over ~9,000 items), by marking the values present and
    counting them (a few linear passes), instead of sorting the index (~0.5 against ~2 ms a step on CPU)."""
    if size > 4 * index.numel():
        return torch.unique(index, return_inverse=True)
    present = torch.zeros(size, dtype=torch.bool, device=index.device)
    present[index] = True
    return present.nonzero()[:, 0].to(index.dtype), (torch.cumsum(present, 0) - 1)[index]


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().astype(np.float32)


def _seen(history: torch.Tensor, target: torch.Tensor, pad: int) -> torch.Tensor:
    """history's items where they are neither padding nor the row's target (target broadcasts), else -1."""
    return torch.where((history != pad) & (history != target), history, -1)
