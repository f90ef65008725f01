"""The attention model's forward pass in numpy, for serving without torch: the same arithmetic as
attention.SequenceModel in eval mode (pre-norm blocks, causal attention, ReLU feed-forward, final norm)."""
from __future__ import annotations

import numpy as np

EPS = 1e-5  # torch LayerNorm's default


def _norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def _linear(x: np.ndarray, weights: dict, name: str) -> np.ndarray:
    return x @ weights[f"{name}.w"].T + weights[f"{name}.b"]


def _block(x: np.ndarray, weights: dict, i: int, heads: int) -> np.ndarray:
    """x: (batch, n, dim), every slot a real item (no padding): causal attention only."""
    b, n, dim = x.shape
    qkv = _linear(_norm(x, weights[f"b{i}.ln1.w"], weights[f"b{i}.ln1.b"]), weights, f"b{i}.qkv")
    q, k, v = qkv.reshape(b, n, 3, heads, dim // heads).transpose(2, 0, 3, 1, 4)
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim // heads)
    logits = np.where(np.tri(n, dtype=bool), logits, -np.inf)
    att = np.exp(logits - logits.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    x = x + _linear((att @ v).transpose(0, 2, 1, 3).reshape(b, n, dim), weights, f"b{i}.proj")
    hidden = np.maximum(_linear(_norm(x, weights[f"b{i}.ln2.w"], weights[f"b{i}.ln2.b"]), weights, f"b{i}.ff1"), 0)
    return x + _linear(hidden, weights, f"b{i}.ff2")


def last_states(weights: dict, vectors: np.ndarray) -> np.ndarray:
    """vectors: (batch, n, dim) item_in rows of histories of equal length n (oldest first) -> (batch, dim), the
    user vector after the last item. Positions are right-aligned, as in training."""
    n = vectors.shape[1]
    x = vectors + weights["position"][len(weights["position"]) - n:]
    heads = int(weights["heads"][0])
    blocks = len({key.split(".")[0] for key in weights if key.startswith("b") and key[1:2].isdigit()})
    for i in range(blocks):
        x = _block(x, weights, i, heads)
    return _norm(x[:, -1], weights["final.w"], weights["final.b"]).astype(np.float32)
