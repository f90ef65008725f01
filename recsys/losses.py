"""The default model's next-item loss (full-softmax cross-entropy on the full and the text-only scores; computed
by fused_softmax) and the columns of its sampled softmax on large catalogs."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recsys.fused_softmax import Scores, cross_entropy


def next_item_loss(users: torch.Tensor, full: Scores, text_only: Scores, weight: torch.Tensor,
                   text_loss_weight: float, text_rows: TextRows | None = None) -> torch.Tensor:
    """The weighted next-item loss on the full scores, plus the same loss on the text path alone, which keeps the
    adapter good for items that arrive after training (cold items have no ID vector). text_rows: the text-only
    loss on a random share of the rows only (TrainConfig.text_loss_rows), estimated without bias."""
    loss = cross_entropy(users, full, weight)
    if text_loss_weight > 0 and text_rows is None:
        loss = loss + text_loss_weight * cross_entropy(users, text_only, weight)
    elif text_loss_weight > 0:  # sum over the share / (its probability x every row's weight): Horvitz-Thompson
        m = text_rows.mask
        share = weight[m].float().sum() / (text_rows.probability * weight.float().sum())
        loss = loss + text_loss_weight * share * cross_entropy(users[m], text_only.rows(m), weight[m])
    return loss


@dataclass(frozen=True)
class TextRows:
    """The rows the text-only loss is computed on (a bool mask over the loss's rows), drawn for the whole batch with
    each row's inclusion probability (the same for every row: a uniform draw of a fixed count)."""

    mask: torch.Tensor
    probability: float


def text_rows(liked: np.ndarray, count: int, rng) -> tuple[np.ndarray | None, float]:
    """A uniform draw of `count` of a batch's liked targets (a bool mask of `liked`'s shape) and the probability
    that any one is drawn; (None, 1.0) when there are no more than `count` (or count is 0: every row)."""
    n = int(liked.sum())
    if count <= 0 or n <= count:
        return None, 1.0
    mask = np.zeros(liked.size, dtype=bool)
    mask[np.flatnonzero(liked.ravel())[rng.choice(n, size=count, replace=False)]] = True
    return mask.reshape(liked.shape), count / n


def sampled_columns(target: torch.Tensor, counts: np.ndarray, size: int, rng, targets_drawn: bool = True,
                    pool: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The columns of a sampled softmax (Jean et al. 2015; logQ correction as in Yi et al. 2019): the batch's
    targets (draws from the training targets' distribution q) plus `size` more draws from q. An item is a column
    with probability p = 1 - (1 - q)^draws; adding -log p to its logit makes the sampled partition function an
    estimate of the full one, so frequent items (always drawn, p ~ 1) are contrasted exactly and a rare drawn item
    stands for the many rare items not drawn. Returns (candidate item indices, each row's target column, each
    column's correction to add to its logits, except in a row's own target column, which stays uncorrected).
    counts: training targets per item. targets_drawn=False: the targets are not draws from q (thumbs-down items,
    say): they are columns for certain, so no row corrects them. pool: the whole batch's targets when `target` is
    one data-parallel worker's share of them: the columns are then the whole batch's, as in a single process."""
    q = counts / counts.sum()
    extra = torch.from_numpy(rng.choice(len(counts), size=size, p=q)).to(target.device)
    if pool is None:
        candidates, inverse = torch.unique(torch.cat([target, extra]), return_inverse=True)
        columns = inverse[:len(target)]
    else:
        candidates = torch.unique(torch.cat([pool, extra]))
        columns = torch.searchsorted(candidates, target)
    drawn = len(target) if pool is None else len(pool)
    draws = size + (drawn if targets_drawn else 0)  # targets that are not draws add no chances
    included = -np.expm1(draws * np.log1p(-np.minimum(q[candidates.cpu().numpy()], 1 - 1e-12)))
    correction = (-torch.from_numpy(np.log(np.maximum(included, 1e-30))).float()).to(target.device)
    if not targets_drawn:
        correction[columns] = 0.0
    return candidates, columns, correction
