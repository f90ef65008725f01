"""Where an item's ID vector starts: its place in the training log's co-occurrence spectrum.

The item tower reads an item as adapter(text) + a learned ID vector. On a sparse log the ID vector has few events
per item to learn from, and much of what it must learn is low-rank (readers of one kind of book read the others of
that kind, whatever their text says). The top singular vectors of the log's user x item matrix hold exactly that
structure, found in one pass without training. So the ID vectors start there (model.ItemTower's id_start, the same
in the history and candidate tables: at the start, a user's score for an item is the spectral similarity of the
item to their history, plus the text's), and training moves them on. An item with no interactions (a new one)
starts at zero and is placed by its text (and its text neighbours, neighbours.py), as before.

The matrix is the positive interactions (0/1) normalised by both degrees, D_u^-1/2 X D_i^-1/2, the normalised
user-item graph whose top singular vectors graph-filter recommenders rank with (Shen et al., *How Powerful is
Graph Convolution for Recommendation?*, CIKM 2021)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def item_spectrum(sequences: dict[str, np.ndarray], weights: dict[str, np.ndarray], held_out: set[str] | list[str],
                  n_items: int, rank: int) -> np.ndarray | None:
    """(n_items, rank) float32 features, or None when the log is too small for any (rank < 1 after capping).
    sequences: each user's item indices in order; weights: the positives rule's weight of each (> 0: positive);
    held_out: users whose last item validation holds out (it stays out of the features, as out of training).
    Rows are the top singular vectors times their singular values, scaled so that the rows of items with any
    interaction have a mean length of 1; items with none are zero rows."""
    held = set(held_out)
    rows, cols = [], []
    for r, (user, items) in enumerate(sequences.items()):
        positive = (np.asarray(weights[user]) > 0) & (np.asarray(items) >= 0)  # -1: an item the catalog lacks
        if user in held and len(items):
            positive[-1] = False
        rows.append(np.full(int(positive.sum()), r))
        cols.append(np.asarray(items)[positive])
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sequences), n_items))
    x.data[:] = 1.0  # an item twice in one history counts once
    rank = min(rank, min(x.shape) - 1, x.nnz - 1)
    if rank < 1:
        return None
    user_degree, item_degree = np.asarray(x.sum(1)).ravel(), np.asarray(x.sum(0)).ravel()
    normalised = sp.diags(1 / np.sqrt(np.maximum(user_degree, 1))) @ x @ sp.diags(1 / np.sqrt(np.maximum(item_degree, 1)))
    vectors, values = _top_singular(normalised.tocsr(), rank)
    features = vectors * values
    used = item_degree > 0
    scale = np.linalg.norm(features[used], axis=1).mean() if used.any() else 0.0
    return (features / scale if scale > 0 else features).astype(np.float32)


def _top_singular(matrix: sp.csr_matrix, rank: int, oversample: int = 32, passes: int = 20) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """(n_cols, rank) right singular vectors and their (rank,) singular values, largest first, each vector's sign
    fixed (its largest entry positive). Randomised subspace iteration (Halko, Martinsson & Tropp, *Finding Structure
    with Randomness*, SIAM Review 2011) from a seeded start: the same matrix gives the same features in any process.
    (ARPACK, tried first, draws restart vectors from a generator whose state carries over between calls in one
    process, so on a matrix with repeated singular values a second call returned other vectors.)"""
    width = min(rank + oversample, min(matrix.shape))
    basis = np.random.default_rng(0).standard_normal((matrix.shape[1], width))
    for _ in range(passes):
        basis = _orthonormal(_orthonormal(matrix.T @ (matrix @ basis)))  # twice: the Gram step squares rounding
    _, values, vt = np.linalg.svd(matrix @ basis, full_matrices=False)
    vectors, values = basis @ vt[:rank].T, values[:rank]
    flip = np.sign(vectors[np.abs(vectors).argmax(0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(flip == 0, 1.0, flip)
    missing = rank - vectors.shape[1]  # a log of lower rank: the directions it lacks are zero
    return np.pad(vectors, ((0, 0), (0, missing))), np.pad(values, (0, missing))


def _orthonormal(z: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning z's, from the eigenvectors of its small Gram matrix (a tall QR took ~2 s per
    pass at 250,000 items; this, a (width x width) problem and one product); directions z barely has are dropped."""
    lam, vec = np.linalg.eigh(z.T @ z)
    keep = lam > max(lam[-1], 0.0) * 1e-10
    return z @ (vec[:, keep] / np.sqrt(lam[keep]))
