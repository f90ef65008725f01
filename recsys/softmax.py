"""Which items a training step scores: every item (a full softmax), or, on large catalogs, the batch's targets plus
a logQ-corrected sample (losses.sampled_columns). One place decides it for the next-item loss, its text-only part
and the thumbs-down term, by the catalog size and TrainConfig.softmax_items / text_softmax_items."""
from __future__ import annotations

import torch

from recsys.config import TrainConfig
from recsys.fused_softmax import Scores, unlikelihood
from recsys.losses import sampled_columns
from recsys.model import ItemTower
from recsys.sequences import Examples

DOWN_BATCH = 256  # thumbs-down examples per step for the unlikelihood term


class StepItems:
    """Every item's score factors for one step, each computed once: the text adapter over the whole catalog runs
    once a step however many of its losses score every item (the next-item loss's text path, two thumbs-down terms)."""

    def __init__(self, model: ItemTower) -> None:
        self.model, self._text, self._full = model, None, None

    def text(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._text is None:
            self._text = self.model.text_out()
        return self._text

    def full(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._full is None:
            self._full = self.model.full_out(self.text()[0])
        return self._full


def step_scores(items: StepItems, target: torch.Tensor, config: TrainConfig, rng,
                pool: torch.Tensor | None = None, seen: torch.Tensor | None = None) -> tuple[Scores, Scores]:
    """(full scores, text-only scores) of a step's rows, as factors (fused_softmax.Scores) with each row's target
    column. Above `softmax_items` seen items the full scores are a corrected sampled softmax over the batch's
    targets and `softmax_items` drawn items. The text-only scores cover every item up to `text_softmax_items` items:
    new items are placed by the text path alone, among all items (measured on ml-latest-small's cold protocol:
    sampling this path too cost 0.009 NDCG@10); above that, they share the full scores' sampled columns (a step's
    cost then stops growing with the catalog). pool: the whole batch's targets when these rows are a data-parallel
    share of it. seen: (rows, m) item indices each row leaves out of both softmaxes (model.seen_items; -1: none)."""
    model = items.model
    if not sampled(model, config):
        return Scores(*items.full(), target, masked=seen), Scores(*items.text(), target, masked=seen)
    candidates, columns, correction = sampled_columns(target, model.target_counts, config.softmax_items, rng,
                                                      pool=pool)
    offset = -correction[columns]  # each row's own target stays uncorrected
    masked = None if seen is None else sampled_mask(seen, candidates, model.n_items)
    shared = config.text_loss_weight <= 0 or model.n_items > config.text_softmax_items
    if shared:
        text_items, text_bias = model.text_out(candidates)
        full_items, full_bias = model.full_out(text_items, candidates)
        text = Scores(text_items, text_bias + correction, columns, offset, masked)
    else:
        text_items, text_bias = items.text()
        full_items, full_bias = model.full_out(text_items[candidates], candidates)
        text = Scores(text_items, text_bias, target, masked=seen)
    full = Scores(full_items, full_bias + correction, columns, offset, masked)
    return full, text


def sampled_mask(seen: torch.Tensor, candidates: torch.Tensor, n_items: int) -> torch.Tensor:
    """seen's item indices as columns of a sampled softmax over `candidates` (-1: not a column, or none)."""
    column = torch.full((n_items + 1,), -1, dtype=torch.long, device=seen.device)
    column[candidates] = torch.arange(len(candidates), device=seen.device)
    return torch.where(seen >= 0, column[seen.clamp(min=0)], -1)


def sampled(model: ItemTower, config: TrainConfig) -> bool:
    return model.target_counts is not None and (model.target_counts > 0).sum() > config.softmax_items


def text_row_count(model: ItemTower, config: TrainConfig) -> int:
    """How many of a step's targets the text-only loss is on, drawn at random (0: every one): TrainConfig's
    text_loss_rows, or with -1 by the catalog's size (rows_by_scale); 0 also when there is no text-only loss or
    the count is a whole batch's."""
    if config.text_loss_rows >= 0:
        off = config.text_loss_weight <= 0 or config.text_loss_rows >= config.batch_size
        return 0 if off else config.text_loss_rows
    return rows_by_scale(model.n_items, sampled(model, config), config)


def rows_by_scale(n_items: int, full_sampled: bool, config: TrainConfig) -> int:
    """The text-only loss's rows by the catalog's size (0: every row). Where the full scores sample their columns
    (over softmax_items seen items) but the text-only scores still cover every item (up to text_softmax_items), a
    text-only row costs n_items / softmax_items times a full one, and that loss becomes most of a step. On
    batch_size x softmax_items / n_items rows it scores as many (row, item) pairs as the sampled columns do; with
    its Horvitz-Thompson weights (losses.text_rows) its expectation is the every-row loss. Every row where both
    paths are full (the whole catalog fits the full softmax) or both sampled (their columns are the same)."""
    if not full_sampled or n_items > config.text_softmax_items or config.text_loss_weight <= 0:
        return 0
    rows = -(-config.batch_size * config.softmax_items // n_items)
    return 0 if rows >= config.batch_size else rows


def down_loss(items: StepItems, downs: Examples, device, rng, config: TrainConfig) -> torch.Tensor:
    """Unlikelihood of a sample of thumbs-down (or disliked) items: over every item, or, where even the text path
    samples its columns (catalogs above text_softmax_items), over the down items plus the same kind of corrected
    sample. (Sampled on ml-latest-small, whose low ratings count as downs, it cost cold NDCG@10 0.0677 -> 0.0602.)
    The reader's history leaves each row's softmax, as in the next-item loss (TrainConfig.mask_seen)."""
    model = items.model
    pick = rng.choice(len(downs.target), size=min(DOWN_BATCH, len(downs.target)), replace=False)
    history = torch.from_numpy(downs.history[pick]).to(device)
    down = torch.from_numpy(downs.target[pick]).to(device)
    users = model.users(history)
    seen = model.seen_items(history, down) if config.mask_seen else None  # as the next-item loss's rows
    if not sampled(model, config) or model.n_items <= config.text_softmax_items:
        return unlikelihood(users, Scores(*items.full(), down, masked=seen))
    candidates, columns, correction = sampled_columns(down, model.target_counts, config.softmax_items, rng,
                                                      targets_drawn=False)
    vectors, bias = model.full_out(model.text_out(candidates)[0], candidates)
    masked = None if seen is None else sampled_mask(seen, candidates, model.n_items)
    return unlikelihood(users, Scores(vectors, bias + correction, columns, -correction[columns], masked))
