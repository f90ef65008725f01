"""The losses of the default model, in one place: full-softmax next-item cross-entropy (on the full and the
text-only scores) and the unlikelihood of thumbs-down items."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Full-softmax next-item loss; logits (batch, n_items), target (batch,), weight (batch,)."""
    return (F.cross_entropy(logits.float(), target, reduction="none") * weight).sum() / weight.sum()


def next_item_loss(full: torch.Tensor, text_only: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                   text_loss_weight: float, text_target: torch.Tensor | None = None) -> torch.Tensor:
    """The next-item loss on the full scores, plus the same loss on the text path alone, which keeps the
    adapter good for items that arrive after training (cold items have no ID vector). text_target: the
    targets' columns in `text_only` where those differ from `full`'s (a sampled full softmax)."""
    loss = weighted_cross_entropy(full, target, weight)
    if text_loss_weight > 0:
        text_target = target if text_target is None else text_target
        loss = loss + text_loss_weight * weighted_cross_entropy(text_only, text_target, weight)
    return loss


def sampled_columns(target: torch.Tensor, counts: np.ndarray, size: int, rng, targets_drawn: bool = True,
                    pool: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The columns of a sampled softmax (Jean et al. 2015; logQ correction as in Yi et al. 2019): the batch's
    targets (draws from the training targets' distribution q) plus `size` more draws from q. An item is a column
    with probability p = 1 - (1 - q)^draws; adding -log p to its logit makes the sampled partition function an
    estimate of the full one, so frequent items (always drawn, p ~ 1) are contrasted exactly and a rare drawn item
    stands for the many rare items not drawn. Returns (candidate item indices, each row's target column, the
    correction to add to the logits; 0 in each row's own target column). counts: training targets per item.
    targets_drawn=False: the targets are not draws from q (thumbs-down items, say): they are columns for certain,
    so no row corrects them. pool: the whole batch's targets when `target` is one data-parallel worker's share of
    them: the columns are then the whole batch's, as in a single process."""
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
    correction = correction.expand(len(target), -1).clone()
    correction[torch.arange(len(target), device=target.device), columns] = 0.0
    return candidates, columns, correction


def unlikelihood(logits: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """-log(1 - p(item | user)) of each row's thumbs-down item: the model itself learns to keep it out of the
    list (the serving filter hides it regardless). logits (b, n_items), down (b,)."""
    probs = torch.softmax(logits.float(), dim=1)
    p_down = probs.gather(1, down[:, None]).squeeze(1).clamp(max=1 - 1e-6)
    return -torch.log1p(-p_down).mean()
