"""Scorers every trained model is compared with (popularity, ItemKNN, EASE, the untuned encoder), and
`ServedModel`, which scores through a `ServingModel`: the object evaluated is the object that serves."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.protocols import history_matrix
from recsys.sequences import user_sequences
from recsys.serving import ServingModel

# Catalog sizes above which a baseline is left out of evaluations (it would not fit or not finish):
ITEMKNN_MAX_ITEMS = 30_000  # ItemKNN keeps a dense (items x items) similarity matrix
EASE_MAX_ITEMS = 30_000  # EASE inverts an (items x items) matrix: 7 GB in float64 at this size
SASREC_MAX_ITEMS = 50_000  # the SASRec baseline's full softmax: (batch x items) scores every step


class _Collaborative:
    """Shared fitting: the user x item matrix over the items seen in training (others score -inf)."""

    name = "base"

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None:
        self.item_ids = item_ids
        self.users = sorted(train["user_id"].astype(str).unique())
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.x = history_matrix(train, self.users, item_ids)  # (n_users, n_items)
        self.seen = np.asarray(self.x.sum(0)).ravel() > 0
        self._fit()

    def _fit(self) -> None: ...

    def _rows(self, user_ids: list[str]) -> sp.csr_matrix:
        rows = [self.user_index.get(u, -1) for u in user_ids]
        empty = sp.csr_matrix((1, self.x.shape[1]), dtype=np.float32)
        return sp.vstack([self.x[r] if r >= 0 else empty for r in rows]).tocsr()

    def score(self, user_ids: list[str]) -> np.ndarray:
        scores = np.asarray(self._score(self._rows(user_ids)), dtype=np.float64)
        scores[:, ~self.seen] = -np.inf
        return scores


class Popularity(_Collaborative):
    name = "popularity"

    def _fit(self) -> None:
        self.counts = np.asarray(self.x.sum(0)).ravel()

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts, (rows.shape[0], 1))


class ItemKNN(_Collaborative):
    """Item-item cosine similarity on the 0/1 matrix; a user's score sums similarities to their history."""

    name = "itemknn"

    def _fit(self) -> None:
        norm = self.x.multiply(1 / np.sqrt(np.maximum(np.asarray(self.x.sum(0)), 1))).tocsc()
        self.sim = (norm.T @ norm).toarray()  # (n_items, n_items)
        np.fill_diagonal(self.sim, 0)

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        return rows @ self.sim


class EASE(_Collaborative):
    """Steck (2019): closed-form item-item regression; lambda 500 as in the reference table."""

    name = "ease"

    def __init__(self, lam: float = 500.0) -> None:
        self.lam = lam

    def _fit(self) -> None:
        seen = np.flatnonzero(self.seen)
        xs = self.x[:, seen]
        gram = (xs.T @ xs).toarray().astype(np.float64)
        gram[np.diag_indices(len(seen))] += self.lam
        p = np.linalg.inv(gram)
        b = p / (-np.diag(p))
        np.fill_diagonal(b, 0)
        self.seen_idx, self.weights = seen, b  # (n_seen, n_seen)

    def _score(self, rows: sp.csr_matrix) -> np.ndarray:
        out = np.zeros(rows.shape, dtype=np.float64)
        out[:, self.seen_idx] = rows[:, self.seen_idx] @ self.weights
        return out


class ServedModel:
    """A scorer over the serving code path: fit builds a ServingModel from the training part (`build`), score
    ranks exactly as `Recommender` does (user vector from the history, then `ServingModel.scores`)."""

    def __init__(self, name: str, build: Callable[[pd.DataFrame, np.ndarray], ServingModel]) -> None:
        self.name, self.build = name, build

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None:
        self.model = self.build(train, item_ids)
        self.sequences = user_sequences(train, item_ids)

    def score(self, user_ids: list[str]) -> np.ndarray:
        empty = np.zeros(0, dtype=np.int64)
        return self.model.scores(self.model.user_vectors([self.sequences.get(u, empty) for u in user_ids]))


def SASRec(seed: int = 0, epochs: int = 200) -> ServedModel:  # noqa: N802
    """The field's standard: SASRec (Kang & McAuley 2018) trained with full-softmax cross-entropy (as in
    Klenitskiy & Vasilev 2023), ID-only: the attention model with no text (random ID vectors), no sampling,
    early-stopped on validation users, served through the same numpy path. As the field runs it: one item embedding
    for input and output, 200 history slots (ml-latest-small, referee warm NDCG@10: two tables and 50 slots 0.0418;
    one table 0.0543; and 200 slots 0.0600, the published run's 0.0602). epochs: a cap; validation (patience 10)
    stops it first at the default."""
    from recsys.config import TrainConfig
    config = TrainConfig(kind="attention", dim=64, max_history=200, use_item_ids=True, text_loss_weight=0.0,
                         history_dropout=0.0, softmax_items=10**9, id_init=0.02, positives={"min_rating": None},
                         tied_ids=True,  # one item embedding for input and output, as SASRec has
                         attention_lr=1e-3, epochs=epochs, patience=10, min_examples=1, seed=seed,  # validation stops it
                         batch_size=1024,  # as measured (the history model's default moved to 2,048 since)
                         average_epochs=0.0,  # the raw weights, as the field trains it (and as cached before)
                         new_item_neighbours=0,  # no text to find neighbours by
                         spectral_rank=0,  # ID-only, as the field runs it
                         mask_seen=False)  # every item in each softmax, as the field trains it (and as cached before)

    def build(train: pd.DataFrame, item_ids: np.ndarray) -> ServingModel:
        from recsys.trainer import fit_adapter
        no_text = np.zeros((len(item_ids), 1), dtype=np.float32)
        no_feedback = pd.DataFrame(columns=["user_id", "item_id", "label"])
        return fit_adapter(no_text, item_ids, train, no_feedback, config).model
    return ServedModel("sasrec", build)


def UntunedEncoder(item_vectors: np.ndarray, window: int = 20, decay: float = 0.9) -> ServedModel:  # noqa: N802
    """The encoder as is (ServingModel.untuned): user = recency-weighted mean of the last `window` item texts.
    (A scorer factory, named as the scorer it makes.)"""
    build = lambda train, item_ids: ServingModel.untuned(item_ids, item_vectors, window, decay)
    return ServedModel("untuned-encoder", build)
