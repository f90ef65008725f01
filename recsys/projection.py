"""2-D maps of items and users: PCA by default (UMAP, t-SNE on request); two versions aligned on one layout."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("pca", "tsne", "umap")
SECONDS_PER_1K_ITEMS = {"pca": 0.05, "tsne": 30.0, "umap": 15.0}  # rough, 2 CPU cores (t-SNE: ~50 s at 1,600)


def available_methods() -> list[str]:
    """The projections this installation can draw (UMAP only with the optional umap-learn package)."""
    import importlib.util
    return [m for m in METHODS if m != "umap" or importlib.util.find_spec("umap") is not None]


def expected_seconds(method: str, n_items: int) -> float:
    return SECONDS_PER_1K_ITEMS.get(method, 1.0) * n_items / 1000


@dataclass(frozen=True)
class Projection:
    """coords: (n_items, 2); project(x) places new vectors (users) in the same map (PCA only, else None)."""

    coords: np.ndarray
    mean: np.ndarray | None = None
    axes: np.ndarray | None = None  # (dim, 2)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        if self.axes is None:
            raise ValueError("only a PCA map can place new points")
        return (vectors - self.mean) @ self.axes


def pca(vectors: np.ndarray) -> Projection:
    """The top two axes from the (dim x dim) covariance: an SVD of the (n x dim) rows took 12 s at 5,000 x 384
    while a round trained on the same cores, this about a tenth of a second."""
    dtype = np.result_type(vectors.dtype, np.float32)  # the maps keep the vectors' precision
    vectors = np.asarray(vectors, dtype=np.float64)
    mean = vectors.mean(0)
    centred = vectors - mean
    _, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    axes = eigenvectors[:, ::-1][:, :2]
    axes = axes * np.sign(axes[np.abs(axes).argmax(0), range(2)])  # fixed sign: the same data, the same map
    return Projection(((vectors - mean) @ axes).astype(dtype), mean.astype(dtype), axes.astype(dtype))


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> Projection:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if method == "pca":
        return pca(vectors)
    if method == "tsne":
        from sklearn.manifold import TSNE
        perplexity = float(min(30, max(5, len(vectors) // 4)))
        return Projection(TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors))
    try:
        import umap
    except ImportError:
        raise ValueError("UMAP needs the umap-learn package: pip install umap-learn") from None
    return Projection(umap.UMAP(random_state=seed).fit_transform(vectors))


@dataclass(frozen=True)
class Alignment:
    """A similarity transform (rotation/reflection, scale, shift) taking one 2-D map onto another."""

    source_mean: np.ndarray
    rotation: np.ndarray
    scale: float
    target_mean: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (points - self.source_mean) @ self.rotation * self.scale + self.target_mean


def alignment(moving: np.ndarray, target: np.ndarray) -> Alignment:
    """Orthogonal Procrustes of `moving` (n, 2) onto `target` (n, 2), so the same item sits in about the
    same place in both maps and movement means a real change."""
    a, b = moving - moving.mean(0), target - target.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    return Alignment(moving.mean(0), u @ vt, float(s.sum() / max((a ** 2).sum(), 1e-12)), target.mean(0))
