"""New items placed by their text neighbours. A trained item vector is adapter(text) + a learned ID residual; an
item no one has touched yet has no residual, so the linear adapter alone places it. Its residual is estimated
instead as a similarity-weighted mean of the residuals of its nearest seen items in the encoder's text space
(kernel regression: "Toy Story 3" borrows what users taught the model about "Toy Story 2"). How many neighbours
is chosen per data set by leave-one-out on the seen items themselves: each one's residual predicted from the
others, against predicting none (today's zero); no neighbour count that beats zero, no neighbours.
Measured by the referee on ml-latest-small's cold protocol (README): NDCG@10 on new items 0.0617 -> 0.0671, per
user +0.0054 ± 0.0030; the warm lists unchanged."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recsys.serving import ServingModel

KS = (10, 20, 50, 100, 200)  # neighbour counts leave-one-out chooses from
TEMPERATURE = 0.1  # softmax temperature over the neighbours' cosine similarities
POOL = 10_000  # the most-trained seen items serve as neighbours (bounds the cost on large catalogs)
PROBE = 2_000  # seen items whose residuals leave-one-out predicts
CHUNK = 512  # query rows per similarity block


@dataclass(frozen=True)
class NeighbourFit:
    """What `place_new_items` did: the neighbour count used (0: none) and why."""

    k: int
    r2: dict  # {k: leave-one-out R^2 of the out residual against zero}
    new_items: int  # items placed from their neighbours
    summary: str

    def to_dict(self) -> dict:
        return {"k": self.k, "r2": {str(k): v for k, v in self.r2.items()}, "new_items": self.new_items,
                "summary": self.summary}


def place_new_items(model: ServingModel, text: np.ndarray, new_out: np.ndarray, new_in: np.ndarray,
                    counts: np.ndarray, k: int = -1, seed: int = 0) -> tuple[ServingModel, NeighbourFit]:
    """`model` with the residuals of new items estimated from their text neighbours.
    text: (n_items, text_dim) the encoder's vectors the adapters read; new_out: items never a training target
    (no learned out residual); new_in: items in no training history (no learned in residual); counts: training
    targets per item (the most trained make the neighbour pool); k: neighbours (-1: chosen by leave-one-out;
    0: none)."""
    text = np.asarray(text, dtype=np.float32)
    out_res = model.item_out - text @ model.out_adapter.T
    in_res = model.item_in - text @ model.in_adapter.T
    text = _unit(text)  # neighbours by cosine similarity
    pool_out, pool_in = _pool(~new_out, counts), _pool(~new_in, counts)
    why = "off" if k == 0 else "no new items" if not (new_out.any() or new_in.any()) else \
        "too few seen items to choose neighbours by" if k < 0 and len(pool_out) <= KS[0] else \
        "no seen items" if not len(pool_out) else ""
    if why:
        return model, NeighbourFit(0, {}, 0, f"new items placed by their text alone ({why})")
    r2 = {}
    if k < 0:
        r2 = leave_one_out_r2(text, out_res, pool_out, np.random.default_rng(seed))
        k = max(r2, key=r2.get)
        if r2[k] <= 0:
            return model, NeighbourFit(0, r2, 0, "new items placed by their text alone: text neighbours do not "
                                                  "predict what training learned about seen items")
    item_out, item_in = model.item_out.copy(), model.item_in.copy()
    item_out[new_out] += neighbour_mean(text[new_out], text[pool_out], out_res[pool_out], k)
    item_in[new_in] += neighbour_mean(text[new_in], text[pool_in], in_res[pool_in], k)
    placed = int((new_out | new_in).sum())
    fit = r2.get(k)
    how = f" (leave-one-out R^2 {fit:.3f} on seen items)" if fit is not None else ""
    return replace(model, item_out=item_out, item_in=item_in), NeighbourFit(
        k, r2, placed, f"{placed:,} new items placed by their text plus what their {k} nearest seen items learned{how}")


def leave_one_out_r2(text: np.ndarray, residual: np.ndarray, pool: np.ndarray, rng) -> dict[int, float]:
    """For each k in KS: 1 - sum |r_i - estimate_i|^2 / sum |r_i|^2 over a sample of pool items, each estimated
    from its k nearest other pool items (so > 0: better than no residual)."""
    probe = np.sort(rng.choice(pool, size=min(PROBE, len(pool)), replace=False))
    ks = [k for k in KS if k < len(pool)]
    errors = dict.fromkeys(ks, 0.0)
    total = float((residual[probe].astype(np.float64) ** 2).sum())
    where = {int(item): i for i, item in enumerate(pool)}
    pool_residual = residual[pool]
    for start in range(0, len(probe), CHUNK):
        rows = probe[start:start + CHUNK]
        sims = text[rows] @ text[pool].T
        sims[np.arange(len(rows)), [where[int(r)] for r in rows]] = -np.inf  # not itself
        top, top_sims = _nearest(sims, max(ks))
        for k in ks:
            estimate = _weighted(top_sims[:, :k], pool_residual[top[:, :k]])
            errors[k] += float(((residual[rows] - estimate).astype(np.float64) ** 2).sum())
    return {k: (1.0 - errors[k] / total) if total > 0 else 0.0 for k in ks}


def neighbour_mean(query: np.ndarray, pool_text: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """(len(query), dim): each query row's softmax(similarity / TEMPERATURE)-weighted mean of the values of its
    k most similar pool rows."""
    out = np.zeros((len(query), values.shape[1]), dtype=np.float32)
    k = min(k, len(pool_text))
    if k == 0:
        return out
    for start in range(0, len(query), CHUNK):
        top, top_sims = _nearest(query[start:start + CHUNK] @ pool_text.T, k)
        out[start:start + CHUNK] = _weighted(top_sims, values[top])
    return out


def _nearest(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar columns, most similar first, and their similarities."""
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, 1)
    return top, np.take_along_axis(sims, top, 1)


def _weighted(sims: np.ndarray, values: np.ndarray) -> np.ndarray:
    w = np.exp((sims - sims[:, :1]) / TEMPERATURE)  # sims sorted: column 0 is each row's largest
    w /= w.sum(1, keepdims=True)
    return np.einsum("qk,qkd->qd", w, values).astype(np.float32)


def _pool(seen: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The seen items with the most training targets, at most POOL, in index order."""
    seen_items = np.flatnonzero(seen)
    if len(seen_items) > POOL:
        seen_items = np.sort(seen_items[np.argsort(-counts[seen_items], kind="stable")[:POOL]])
    return seen_items


def _unit(text: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(text, axis=1, keepdims=True)
    return text / np.where(norms > 0, norms, 1.0)
