"""The losses of the default model, in one place: full-softmax next-item cross-entropy (on the full and the
text-only scores) and the unlikelihood of thumbs-down items."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Full-softmax next-item loss; logits (batch, n_items), target (batch,), weight (batch,)."""
    return (F.cross_entropy(logits.float(), target, reduction="none") * weight).sum() / weight.sum()


def next_item_loss(full: torch.Tensor, text_only: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                   text_loss_weight: float) -> torch.Tensor:
    """The next-item loss on the full scores, plus the same loss on the text path alone, which keeps the
    adapter good for items that arrive after training (cold items have no ID vector)."""
    loss = weighted_cross_entropy(full, target, weight)
    if text_loss_weight > 0:
        loss = loss + text_loss_weight * weighted_cross_entropy(text_only, target, weight)
    return loss


def unlikelihood(logits: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """-log(1 - p(item | user)) of each row's thumbs-down item: the model itself learns to keep it out of the
    list (the serving filter hides it regardless). logits (b, n_items), down (b,)."""
    probs = torch.softmax(logits.float(), dim=1)
    p_down = probs.gather(1, down[:, None]).squeeze(1).clamp(max=1 - 1e-6)
    return -torch.log1p(-p_down).mean()
