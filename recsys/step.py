"""One training step of the default model: the batch's loss as a module (so that DDP can wrap it), the optimiser
(lazy updates of the ID tables on large catalogs), history dropout, and a data-parallel worker's share of a batch
(Shard): each worker scores its rows with the whole batch's draws, scaled so that DDP's averaged gradient is the
single-process step's."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from recsys.config import TrainConfig
from recsys.devices import autocast
from recsys.fused_softmax import unlikelihood
from recsys.losses import TextRows, next_item_loss, text_rows
from recsys.model import ItemTower
from recsys.sequences import Examples
from recsys.softmax import StepItems, down_loss, step_scores, text_row_count


@dataclass(frozen=True)
class Shard:
    """Data-parallel training (distributed.py, on Ray Train): every worker runs the same loop with the same seed,
    so it draws the same batches, history dropout and sampled columns; each scores only its `rank`-th share of a
    batch's rows, scaled so that the gradients `wrap`'s DDP averages equal the single-process step's. (Torch's
    dropout inside the attention model is drawn per worker for its own rows: equal in distribution only.)"""

    rank: int
    world: int
    wrap: Callable[[torch.nn.Module], torch.nn.Module]  # a DistributedDataParallel wrapper


def train_step(step_loss: torch.nn.Module, optim, ex: Examples, batch: np.ndarray, downs: tuple[Examples, Examples],
               config: TrainConfig, device, rng, shard: Shard | None = None) -> float:
    """One optimiser step: the next-item loss on the batch, plus the unlikelihood of thumbs-down items
    (x feedback_weight) and of disliked interactions (a low rating; x 1), each on a sample per step.
    step_loss: a StepLoss (or its DDP wrapper); with a shard, this worker's share of the batch's rows."""
    model = step_loss_model(step_loss)
    pad = int(model.n_items)
    seen = ex.history[batch] if config.mask_seen else None  # the window before dropout: what the reader has
    history = drop_history(ex.history[batch], config.history_dropout, pad, rng)  # whole batch: same draws on all
    target, weight, totals = ex.target[batch], ex.weight[batch], None
    text, probability = None, 1.0  # the text-only loss's rows, drawn on the whole batch too (none: every row)
    count = text_row_count(model, config)
    if count > 0:  # (0 also when the text-only loss is off: text_row_count)
        text, probability = text_rows((target != pad) & (weight > 0), count, rng)
    if shard is not None:
        totals = batch_totals(target, weight, pad, shard.world)
        rows = np.array_split(np.arange(len(batch)), shard.world)[shard.rank]
        history, target, weight = history[rows], target[rows], weight[rows]
        text = None if text is None else text[rows]
        seen = None if seen is None else seen[rows]
    text = None if text is None else TextRows(torch.from_numpy(text).to(device), probability)
    seen = None if seen is None else torch.from_numpy(seen).to(device)
    loss = step_loss(torch.from_numpy(history).to(device), torch.from_numpy(target).to(device),
                     torch.from_numpy(weight).to(device), downs, config, device, rng, totals, text, seen)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    if shard is None:
        return float(loss.detach())
    total = loss.detach().float().clone()  # the shards' losses sum to world x the single-process loss
    torch.distributed.all_reduce(total)
    return float(total) / shard.world


def lazy_ids(target_counts: np.ndarray, config: TrainConfig, shard: Shard | None = None, device="cpu") -> bool:
    """Whether the ID tables train with sparse gradients and lazy Adam updates (only the rows a step looked up):
    when every path of a step samples its columns (over `text_softmax_items` items and `softmax_items` seen ones),
    a step touches a few thousand rows, while a dense AdamW step reads and writes every row of the ID tables
    (n_items x dim each) and their moments. Not on data-parallel workers (DDP all-reduces dense gradients), with
    weight decay (SparseAdam has none), nor on Apple's MPS (sparse gradients there are incomplete). Smaller
    catalogs keep the dense AdamW step, unchanged."""
    return (shard is None and config.use_item_ids and config.weight_decay == 0
            and torch.device(device).type in ("cpu", "cuda")
            and len(target_counts) > config.text_softmax_items
            and int((target_counts > 0).sum()) > config.softmax_items)


class Optimisers:
    """AdamW for the dense parameters and SparseAdam for sparse-gradient ID tables, stepped as one."""

    def __init__(self, *optimisers) -> None:
        self.optimisers = optimisers

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optim in self.optimisers:
            optim.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optim in self.optimisers:
            optim.step()


def make_optimiser(model: ItemTower, config: TrainConfig):
    """AdamW over every parameter; with sparse ID tables (lazy_ids), SparseAdam over those at the same rate."""
    if not getattr(model, "sparse_ids", False):
        return adamw(model.parameters(), config)
    tables = model.id_tables()
    dense = [p for p in model.parameters() if all(p is not t for t in tables)]
    return Optimisers(adamw(dense, config), torch.optim.SparseAdam(tables, lr=config.step_lr))


def adamw(params, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW, as one fused kernel per parameter on CPU and CUDA: torch's default on CPU, a loop of element-wise ops
    per tensor, was ~5% of an ml-latest-small step. (Torch checks a fused optimiser's device only at its first
    step, so the choice is made here, by device; elsewhere, e.g. Apple's MPS, the default loop.)"""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=config.step_lr, weight_decay=config.weight_decay, fused=fused or None)


def step_loss_model(step_loss: torch.nn.Module) -> ItemTower:
    """The ItemTower inside a StepLoss, DDP-wrapped or not."""
    return getattr(step_loss, "module", step_loss).model


@dataclass(frozen=True)
class BatchTotals:
    """What a shard's loss is normalised by: the whole batch's liked weight and disliked steps, and the world size
    (DDP averages gradients; the shards' losses must sum to the single-process loss)."""

    liked: float
    disliked: int
    world: int
    targets: np.ndarray  # every row's target: a sampled softmax draws the whole batch's columns


def batch_totals(target: np.ndarray, weight: np.ndarray, pad: int, world: int) -> BatchTotals:
    """The rows a model trains on are the targets that are not padding (an attention window's empty steps)."""
    real = target != pad
    return BatchTotals(float(weight[real & (weight > 0)].sum(dtype=np.float64)),
                       int((real & (weight < 0)).sum()), world, target[real])


class StepLoss(torch.nn.Module):
    """A training step's loss as a module, so that a DistributedDataParallel wrapper can average its gradients."""

    def __init__(self, model: ItemTower) -> None:
        super().__init__()
        self.model = model

    def forward(self, history: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                downs: tuple[Examples, Examples], config: TrainConfig, device, rng,
                totals: BatchTotals | None = None, text: TextRows | None = None,
                seen: torch.Tensor | None = None) -> torch.Tensor:
        """text: the rows the text-only loss is on (TrainConfig.text_loss_rows), over history's shape of targets.
        seen: history before dropout, whose items each row leaves out of its softmax (TrainConfig.mask_seen)."""
        model = self.model
        with autocast(device, config.precision):
            if text is not None and target.dim() == 2:  # the attention model's rows: its targets that are not padding
                text = TextRows(text.mask[target != model.n_items], text.probability)
            masked = None if seen is None else model.seen_items(seen, target)
            users, target, weight = model.train_rows(history, target, weight)
            pool = None if totals is None else torch.from_numpy(totals.targets).to(device)
            items = StepItems(model)
            full, text_only = step_scores(items, target, config, rng, pool, masked)
            liked, disliked = weight > 0, weight < 0  # weight 0 (e.g. thumbs at feedback_weight 0): no signal
            loss = torch.zeros((), device=users.device)
            if bool(liked.any()):
                loss = next_item_loss(users[liked], full.rows(liked), text_only.rows(liked), weight[liked],
                                      config.text_loss_weight,
                                      None if text is None else TextRows(text.mask[liked], text.probability))
                if totals is not None:  # a weighted mean over this shard -> its part of the batch's mean
                    loss = loss * (weight[liked].float().sum() / totals.liked * totals.world)
            if bool(disliked.any()):  # disliked steps inside attention windows
                part = unlikelihood(users[disliked], full.rows(disliked))
                if totals is not None:
                    part = part * (int(disliked.sum()) / totals.disliked * totals.world)
                loss = loss + part
            for examples, scale in zip(downs, (config.feedback_weight, 1.0)):
                if len(examples.target) and scale > 0:  # the same sample on every worker: DDP's mean keeps it
                    loss = loss + scale * down_loss(items, examples, device, rng, config)
            if totals is not None:  # a graph on every worker, even for a shard with no rows (scores of never-seen
                loss = loss + 0.0 * sum(p.sum() for p in model.parameters())  # items are -inf: not those)
        return loss


def drop_history(history: np.ndarray, p: float, pad: int, rng) -> np.ndarray:
    """Each history slot becomes padding with probability p (training only): the model must rank from
    partial histories, so it memorises fewer exact co-occurrences."""
    if p <= 0:
        return history
    return np.where(rng.random(history.shape) < p, pad, history)
