"""Softmax losses over scores kept as their factors (users @ items.T + bias), computed a block of rows at a time
with their gradients in the same pass: the (rows x items) score matrix is never held whole, and each block is
touched by a few passes instead of the dozen an unfused cross-entropy and its backward make over fresh memory.
On ml-latest-small (9,000 items, batch 1,024, 2 cores) those element-wise passes were two thirds of a training
step. The maths is the plain softmax cross-entropy and unlikelihood (tests compare both with torch's own)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from recsys.devices import SHAPE_BUCKET, bucketed

BLOCK_ELEMENTS = 1 << 21  # scores per block (8 MB in fp32); 60 ml-latest-small steps: 2^20 7.6 s, 2^21 6.6, 2^22 6.7
MAX_DOWN_PROB = 1 - 1e-6  # the unlikelihood's clamp: a row whose down item has all the mass adds no gradient


@dataclass(frozen=True)
class Scores:
    """Row r's score of column j is users[r] @ items[j] + bias[j], plus offset[r] in its own target column:
    a sampled softmax leaves each row's target uncorrected (losses.sampled_columns). items (n_columns, dim),
    bias (n_columns,), target (rows,) column indices, offset (rows,) or None. masked: (rows, m) column indices each
    row leaves out of its softmax (-inf: no probability, no gradient; -1: none), never its own target; or None."""

    items: torch.Tensor
    bias: torch.Tensor
    target: torch.Tensor
    offset: torch.Tensor | None = None
    masked: torch.Tensor | None = None

    def rows(self, mask: torch.Tensor) -> Scores:
        pick = lambda t: None if t is None else t[mask]  # noqa: E731
        return Scores(self.items, self.bias, self.target[mask], pick(self.offset), pick(self.masked))


def cross_entropy(users: torch.Tensor, scores: Scores, weight: torch.Tensor) -> torch.Tensor:
    """sum_r weight[r] * CE(row r's scores, its target) / sum(weight): the weighted next-item loss."""
    coef = (weight.float() / weight.float().sum()).detach()
    return _FusedSoftmax.apply(users, scores.items, scores.bias, scores.target, coef, scores.offset, scores.masked,
                               "xent", torch.is_grad_enabled())


def unlikelihood(users: torch.Tensor, scores: Scores) -> torch.Tensor:
    """mean_r -log(1 - p_r(target)): each row's (thumbs-down) target pushed out of its softmax."""
    coef = torch.full((len(users),), 1.0 / max(len(users), 1), device=users.device)
    return _FusedSoftmax.apply(users, scores.items, scores.bias, scores.target, coef, scores.offset, scores.masked,
                               "unlike", torch.is_grad_enabled())


class _FusedSoftmax(torch.autograd.Function):
    """The loss sum_r coef[r] * loss_r; its gradients are computed with it (they are linear in the incoming
    gradient, which backward applies). Under autocast the scores' matmul runs in its dtype, the softmax in fp32,
    and the gradients' two matmuls in bf16 under bf16 (in fp32 under fp16, whose gradients would underflow)."""

    @staticmethod
    def forward(ctx, users, items, bias, target, coef, offset, masked, kind, grad_enabled):
        device = users.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else \
            torch.promote_types(users.dtype, items.dtype)
        need = [grad_enabled and n for n in ctx.needs_input_grad[:3]]  # (forward itself runs without grad mode)
        with torch.autocast(device, enabled=False):
            padded = _Padded.of(users.to(dtype), items.to(dtype), bias, target, coef, offset, masked)
            # fp16 gradients would underflow before a loss scaler's factor reaches them (in backward): fp32 there
            grads = _Grads(padded, need, torch.float32 if dtype == torch.float16 else dtype)
            total = torch.zeros((), dtype=torch.float32, device=users.device)
            step = SHAPE_BUCKET * max(1, round(BLOCK_ELEMENTS / max(len(padded.w), 1) / SHAPE_BUCKET))
            for start in range(0, len(padded.u), step):
                total += grads.add_block(padded, slice(start, start + step), kind)
        ctx.grads = grads.trimmed(len(users), len(items))
        ctx.dtypes = (users.dtype, items.dtype, bias.dtype)
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        grads = [None if g is None else (g * grad_out).to(dt) for g, dt in zip(ctx.grads, ctx.dtypes)]
        return (*grads, None, None, None, None, None, None)


@dataclass(frozen=True)
class _Padded:
    """The inputs with rows and columns padded to a few sizes (devices.bucketed: a matmul kernel per shape):
    padded columns score -inf (no mass, no gradient); padded rows repeat the first target with weight 0 and mask
    nothing."""

    u: torch.Tensor
    w: torch.Tensor
    b: torch.Tensor
    target: torch.Tensor
    coef: torch.Tensor
    offset: torch.Tensor | None
    masked: torch.Tensor | None

    @classmethod
    def of(cls, u, w, bias, target, coef, offset, masked) -> _Padded:
        rows, cols = bucketed(len(u), SHAPE_BUCKET) - len(u), bucketed(len(w), SHAPE_BUCKET) - len(w)
        return cls(F.pad(u, (0, 0, 0, rows)), F.pad(w, (0, 0, 0, cols)),
                   F.pad(bias.float(), (0, cols), value=float("-inf")),
                   torch.cat([target, target[:1].expand(rows)]) if len(u) else target, F.pad(coef, (0, rows)),
                   None if offset is None else F.pad(offset.float(), (0, rows)),
                   None if masked is None else F.pad(masked, (0, 0, 0, rows), value=-1))


class _Grads:
    """The gradients of users, items and bias (fp32; None where not needed), summed block by block."""

    def __init__(self, p: _Padded, need: list[bool], dtype: torch.dtype) -> None:
        self.need, self.dtype = need, dtype
        self.u, self.w = p.u.to(dtype), p.w.to(dtype)
        self.u1 = _with_ones(self.u) if need[1] and need[2] else None
        zeros = lambda t: torch.zeros(t.shape, dtype=torch.float32, device=t.device)  # noqa: E731
        self.grads = [zeros(t) if n else None for t, n in zip((p.u, p.w, p.b), need)]

    def add_block(self, p: _Padded, block: slice, kind: str) -> torch.Tensor:
        """The block's loss (sum of coef x loss over its rows); its gradients added to the sums."""
        rows = torch.arange(len(p.u[block]), device=p.u.device)
        t = p.target[block]
        z = torch.mm(p.u[block], p.w.T).float().add_(p.b)  # cast, then add: a mixed bf16 + fp32 add is slower
        if p.offset is not None:
            z[rows, t] += p.offset[block]
        if p.masked is not None:
            m = p.masked[block]
            keep = m >= 0
            z[rows[:, None].expand_as(m)[keep], m[keep]] = float("-inf")
        probs = torch.softmax(z, dim=1)
        if kind == "xent":  # -log p_t = z_top - z_t - log p_top, with p_top >= 1 / columns (log(p_t) loses digits
            # below ~1e-38); the largest score and probability are the same column's, read by two amax passes
            # (~0.18 ms each per 256 x 9,216 block) instead of one max that also returns its index (~0.59 ms)
            loss, scale = z.amax(dim=1) - z[rows, t] - torch.log(probs.amax(dim=1)), p.coef[block]
        else:  # d loss / d scores = ratio * (one-hot - softmax)
            p_t = probs[rows, t]
            loss = -torch.log1p(-p_t.clamp(max=MAX_DOWN_PROB))
            scale = -p.coef[block] * torch.where(p_t < MAX_DOWN_PROB, p_t / (1 - p_t), torch.zeros_like(p_t))
        probs[rows, t] -= 1.0  # softmax - one-hot: d CE / d scores, before each row's scale
        grad_u, grad_w, grad_b = self.grads
        if grad_b is not None and grad_w is None:
            grad_b += torch.mv(probs.T, scale)
        if grad_u is None and grad_w is None:
            return (p.coef[block] * loss).sum()
        # each row's scale goes on the (rows x dim) factors, not the block: a cast alone reads and writes the block
        # in ~0.3 ms (256 x 9,216), a multiply into the narrower type in ~0.7
        grad = probs.to(self.dtype)
        if grad_u is not None:
            torch.mul(torch.mm(grad, self.w), scale[:, None], out=grad_u[block])
        if grad_w is not None:  # with the bias: one matmul, [u | 1] gives the bias's column sums too
            side = self.u if grad_b is None else self.u1
            both = torch.mm(grad.T, (side[block] * scale[:, None]).to(self.dtype))
            dim = self.u.shape[1]
            grad_w += both[:, :dim]
            if grad_b is not None:
                grad_b += both[:, dim]
        return (p.coef[block] * loss).sum()

    def trimmed(self, n_rows: int, n_cols: int) -> tuple:
        """The gradients without the padding's rows and columns."""
        return tuple(None if g is None else g[:n] for g, n in zip(self.grads, (n_rows, n_cols, n_cols)))


def _with_ones(u: torch.Tensor) -> torch.Tensor:
    """[u | 1 | 0...]: a column of ones after u's (its product with a gradient is the bias's column sums), then
    zeros to a multiple of 8 columns (aligned rows for GPU matmul kernels)."""
    extra = torch.zeros(len(u), -(-(u.shape[1] + 1) // 8) * 8 - u.shape[1], dtype=u.dtype, device=u.device)
    extra[:, 0] = 1.0
    return torch.cat([u, extra], dim=1)
