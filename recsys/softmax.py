"""Which items a training step scores: every item (a full softmax), or, on large catalogs, the batch's targets plus
a logQ-corrected sample (losses.sampled_columns). One place decides it for the next-item loss, its text-only part
and the thumbs-down term, by the catalog size and TrainConfig.softmax_items / text_softmax_items."""
from __future__ import annotations

import torch

from recsys.config import TrainConfig
from recsys.losses import sampled_columns, unlikelihood
from recsys.model import ItemTower
from recsys.sequences import Examples

DOWN_BATCH = 256  # thumbs-down examples per step for the unlikelihood term


def step_logits(model: ItemTower, users: torch.Tensor, target: torch.Tensor, config: TrainConfig, rng,
                pool: torch.Tensor | None = None):
    """(full scores, each row's target column in them, text-only scores, each row's target column in those).
    Above `softmax_items` seen items the full scores are a corrected sampled softmax over the batch's targets and
    `softmax_items` drawn items. The text-only scores cover every item up to `text_softmax_items` items: new items
    are placed by the text path alone, among all items (measured on ml-latest-small's cold protocol: sampling this
    path too cost 0.009 NDCG@10); above that, they share the full scores' sampled columns (a step's cost then stops
    growing with the catalog). pool: the whole batch's targets when these rows are a data-parallel share of it."""
    if not sampled(model, config):
        full, text_only = model.both_logits(users)
        return full, target, text_only, target
    candidates, columns, correction = sampled_columns(target, model.target_counts, config.softmax_items, rng,
                                                      pool=pool)
    full, text_sampled = model.candidate_logits(users, candidates)
    if config.text_loss_weight <= 0:
        return full + correction, columns, full, columns
    if model.n_items > config.text_softmax_items:
        return full + correction, columns, text_sampled + correction, columns
    return full + correction, columns, model.text_logits(users), target


def sampled(model: ItemTower, config: TrainConfig) -> bool:
    return model.target_counts is not None and (model.target_counts > 0).sum() > config.softmax_items


def down_loss(model: ItemTower, downs: Examples, device, rng, config: TrainConfig) -> torch.Tensor:
    """Unlikelihood of a sample of thumbs-down (or disliked) items: over every item, or, where even the text path
    samples its columns (catalogs above text_softmax_items), over the down items plus the same kind of corrected
    sample. (Sampled on ml-latest-small, whose low ratings count as downs, it cost cold NDCG@10 0.0677 -> 0.0602.)"""
    pick = rng.choice(len(downs.target), size=min(DOWN_BATCH, len(downs.target)), replace=False)
    history = torch.from_numpy(downs.history[pick]).to(device)
    down = torch.from_numpy(downs.target[pick]).to(device)
    users = model.users(history)
    if not sampled(model, config) or model.n_items <= config.text_softmax_items:
        return unlikelihood(model.logits(users), down)
    candidates, columns, correction = sampled_columns(down, model.target_counts, config.softmax_items, rng,
                                                      targets_drawn=False)
    return unlikelihood(model.candidate_logits(users, candidates)[0] + correction, columns)
