"""New items placed by their text neighbours. A trained item vector is adapter(text) + a learned ID residual; an
item no one has touched yet has no residual, so the linear adapter alone places it. Its residual is estimated
instead as a similarity-weighted mean of the residuals of its nearest seen items in the encoder's text space
(kernel regression: "Toy Story 3" borrows what users taught the model about "Toy Story 2"). How many neighbours
is chosen per data set by leave-one-out on the seen items themselves: each one's residual predicted from the
others, against predicting none (today's zero); no neighbour count that beats zero, no neighbours.
Measured by the referee on ml-latest-small's cold protocol (README): NDCG@10 on new items 0.0617 -> 0.0668, per
user +0.0051 ± 0.0029; the warm lists unchanged."""
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


def place_new_items(model: ServingModel, text: np.ndarray, trained: np.ndarray, new_out: np.ndarray,
                    new_in: np.ndarray, counts: np.ndarray, k: int = -1, seed: int = 0) -> tuple[ServingModel, NeighbourFit]:
    """`model` with the residuals of new items estimated from their text neighbours.
    text: (n_items, text_dim) the encoder's vectors the adapters read; trained: items whose residuals training
    learned (the neighbours); new_out: items to place as candidates (no learned out residual); new_in: items to
    place as history items (no learned in residual); counts: training targets per item (the most trained make the
    neighbour pool); k: neighbours (-1: chosen by leave-one-out; 0: none)."""
    new = new_out | new_in
    pool = pool_of(trained & ~new, counts)
    why = "off" if k == 0 else "no new items" if not new.any() else \
        "too few seen items to choose neighbours by" if k < 0 and len(pool) <= KS[0] else \
        "no seen items" if not len(pool) else ""
    if why:
        return model, NeighbourFit(0, {}, 0, f"new items placed by their text alone ({why})")
    pool_text, new_text = np.asarray(text[pool], dtype=np.float32), np.asarray(text[new], dtype=np.float32)
    w_out, w_in = model.out_adapter.T.astype(np.float32), model.in_adapter.T.astype(np.float32)
    out_res, in_res = model.item_out[pool] - pool_text @ w_out, model.item_in[pool] - pool_text @ w_in
    base_out, base_in = new_text @ w_out, new_text @ w_in  # what the adapters make of the new items' text
    pool_text, new_text = unit_rows(pool_text), unit_rows(new_text)  # neighbours by cosine similarity
    r2 = {}
    if k < 0:
        r2 = leave_one_out_r2(pool_text, out_res, np.random.default_rng(seed))
        k = max(r2, key=r2.get)
        if r2[k] <= 0:
            return model, NeighbourFit(0, r2, 0, "new items placed by their text alone: text neighbours do not "
                                                  "predict what training learned about seen items")
    k = min(k, len(pool))
    dim = out_res.shape[1]  # one neighbour search for both residuals
    both = neighbour_mean(new_text, pool_text, np.concatenate([out_res, in_res], axis=1), k)
    item_out, item_in = model.item_out.copy(), model.item_in.copy()  # (text + an untrained ID vector before)
    item_out[new_out] = base_out[new_out[new]] + both[new_out[new], :dim]
    item_in[new_in] = base_in[new_in[new]] + both[new_in[new], dim:]
    chosen = r2.get(k)
    how = f" (leave-one-out R^2 {chosen:.3f} on seen items)" if chosen is not None else ""
    return replace(model, item_out=item_out, item_in=item_in), NeighbourFit(
        k, r2, int(new.sum()), f"{int(new.sum()):,} new items placed by their text plus what their {k} nearest seen "
                               f"items learned{how}")


def leave_one_out_r2(text: np.ndarray, residual: np.ndarray, rng) -> dict[int, float]:
    """For each k in KS (below the number of rows): 1 - sum |r_i - estimate_i|^2 / sum |r_i|^2 over a sample of
    rows, each estimated from its k nearest other rows (so > 0: better than no residual). text: unit rows."""
    probe = np.sort(rng.choice(len(text), size=min(PROBE, len(text)), replace=False))
    ks = [k for k in KS if k < len(text)]
    errors = dict.fromkeys(ks, 0.0)
    total = float((residual[probe].astype(np.float64) ** 2).sum())
    for start in range(0, len(probe), CHUNK):
        rows = probe[start:start + CHUNK]
        sims = text[rows] @ text.T
        sims[np.arange(len(rows)), rows] = -np.inf  # not itself
        top, top_sims = _nearest(sims, max(ks))
        for k in ks:
            estimate = _weighted(top[:, :k], top_sims[:, :k], residual)
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
        out[start:start + CHUNK] = _weighted(top, top_sims, values)
    return out


def _nearest(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar columns, most similar first, and their similarities (torch's top-k: 5x numpy's
    argpartition on 2 cores; this runs in the training process, where torch is loaded anyway)."""
    import torch
    values, top = torch.topk(torch.from_numpy(sims), min(k, sims.shape[1]), dim=1)
    return top.numpy(), values.numpy()


def _weighted(top: np.ndarray, sims: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each row's softmax(sims / TEMPERATURE)-weighted mean of values[top], as one (rows x pool) @ values matmul."""
    w = np.exp((sims - sims.max(1, keepdims=True)) / TEMPERATURE)
    dense = np.zeros((len(top), len(values)), dtype=np.float32)
    np.put_along_axis(dense, top, (w / w.sum(1, keepdims=True)).astype(np.float32), 1)
    return dense @ values


def pool_of(seen: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The seen items with the most training targets, at most POOL, in index order."""
    seen_items = np.flatnonzero(seen)
    if len(seen_items) > POOL:
        seen_items = np.sort(seen_items[np.argsort(-counts[seen_items], kind="stable")[:POOL]])
    return seen_items


def unit_rows(text: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(text, axis=1, keepdims=True)
    return text / np.where(norms > 0, norms, 1.0)
