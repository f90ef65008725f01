"""The quick feedback round: a new model version in seconds, warm-started from the active one.

A full round retrains everything from the log; this one keeps the active version's user side (how a history
becomes a user vector) and adjusts only the item table (each item's output vector and bias), full-batch:
- every current thumb is a target: an up should rank in its user's top k, a down should fall out of it (a
  margin on the user's own score scale, so it works for any model's score range);
- a replay sample of the log's users keeps its scores (their mean squared change, on each user's score scale),
  so the thumbs move what they are about and little else.
Because item vectors are shared, a thumb also moves the item for users whose taste is like the thumbing user's.
The report says where each new thumb's item ranked for its user before and after, and how much of the
replay users' top k stayed the same."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from recsys.errors import RecTuneError
from recsys.ranking import mask_scores, position_of, seen_cells
from recsys.recommend import Recommender
from recsys.serving import ServingModel


@dataclass(frozen=True)
class QuickConfig:
    steps: int = 150  # full-batch Adam steps; well under a second on the demo catalog
    lr: float = 0.05  # in units of each user's score spread (the loss is scale-free)
    k: int = 10  # an up should reach its user's top k, a down should leave it
    margin: float = 1.0  # how far past the user's k-th score, in that user's score standard deviations
    replay_users: int = 1000  # log users whose scores the update keeps (fewer on very large catalogs)
    replay_weight: float = 1.0  # against one thumb
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {"steps": self.steps >= 1, "lr": self.lr > 0, "k": self.k >= 1, "margin": self.margin >= 0,
                  "replay_users": self.replay_users >= 0, "replay_weight": self.replay_weight >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid quick-round setting: {', '.join(bad)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThumbMove:
    """Where a thumbed item ranks for the user who thumbed it (1 = top; history and other ups excluded)."""

    user_id: str
    item_id: str
    label: str
    rank_before: int
    rank_after: int

    @property
    def moved_right_way(self) -> bool:
        return self.rank_after < self.rank_before if self.label == "up" else self.rank_after > self.rank_before


@dataclass(frozen=True)
class QuickResult:
    model: ServingModel
    moves: tuple[ThumbMove, ...]  # the new thumbs only
    thumbs: int  # every current thumb the update trained on
    replay_users: int
    kept_top_k: float  # share of the replay users' top-k items that stayed in their top k

    def summary(self, k: int) -> str:
        right = sum(m.moved_right_way for m in self.moves)
        return (f"{len(self.moves)} new thumb(s): {right} moved the right way (ups up, downs down) for their user; "
                f"other users' top {k} kept {self.kept_top_k:.0%} of their items")


@dataclass
class _Rows:
    """Fixed user vectors (one per thumb, or per replay user) and each one's score scale: (n, dim), (n,), (n,),
    plus the history each was computed from (hidden when ranking)."""

    users: np.ndarray
    threshold: np.ndarray  # the user's k-th best score under the active version
    spread: np.ndarray  # the user's score standard deviation
    hidden: list[np.ndarray]


def new_thumbs(current: pd.DataFrame, seen: pd.DataFrame | None) -> pd.DataFrame:
    """Current labels (user_id, item_id, label) the base version did not train on."""
    if seen is None or seen.empty:
        return current
    key = ["user_id", "item_id", "label"]
    old = set(map(tuple, seen[key].astype(str).to_numpy()))
    mask = [tuple(row) not in old for row in current[key].astype(str).to_numpy()]
    return current[mask]


def quick_update(model: ServingModel, interactions: pd.DataFrame, labels: pd.DataFrame, fresh: pd.DataFrame,
                 config: QuickConfig = QuickConfig()) -> QuickResult:
    """labels: every current thumb (user_id, item_id, label); fresh: those new since `model` was trained."""
    if fresh.empty:
        raise RecTuneError("no new thumbs since the active version was trained: nothing to apply.")
    rec = Recommender(model, interactions, None)
    thumbs = _known(labels, rec)
    ups = {u: g.loc[g["label"] == "up", "item"].tolist() for u, g in thumbs.groupby("user_id")}
    rows = _rows(model, [_thumb_history(rec, ups, t.user_id, t.item) for t in thumbs.itertuples()], config.k)
    replay_ids = _replay_users(rec, len(model.item_ids), config)
    replay = _rows(model, [_thumb_history(rec, ups, u, -1) for u in replay_ids], config.k)
    tuned = _fit(model, rows, thumbs, replay, config)
    new = set(map(tuple, fresh[["user_id", "item_id", "label"]].astype(str).to_numpy()))
    moves = tuple(_move(model, tuned, rows, i, t) for i, t in enumerate(thumbs.itertuples())
                  if (t.user_id, t.item_id, t.label) in new)
    return QuickResult(tuned, moves, len(thumbs), len(replay_ids), _kept(model, tuned, replay, config.k))


def _known(labels: pd.DataFrame, rec: Recommender) -> pd.DataFrame:
    """Thumbs on items and users the model knows, with the item's row index."""
    out = labels.assign(user_id=labels["user_id"].astype(str), item_id=labels["item_id"].astype(str))
    out = out[out["label"].isin(["up", "down"])]
    out = out.assign(item=rec.index.get_indexer(out["item_id"]))
    return out[(out["item"] >= 0) & out["user_id"].isin(rec.sequences.keys())].reset_index(drop=True)


def _thumb_history(rec: Recommender, ups: dict[str, list[int]], user: str, item: int) -> np.ndarray:
    """The history a thumb is judged from: the log plus the user's ups as served, minus the thumbed item
    itself (an up joins the history when served, where it would trivially score high)."""
    history = np.concatenate([rec.history(user), np.array(ups.get(user, []), dtype=np.int64)])
    return history[history != item]


def _rows(model: ServingModel, histories: list[np.ndarray], k: int) -> _Rows:
    """Each history's user vector with its k-th best score (history excluded) and its score spread."""
    if not histories:
        dim = model.item_in.shape[1]
        return _Rows(np.zeros((0, dim), np.float32), np.zeros(0), np.zeros(0), [])
    vectors = model.user_vectors(histories)
    scores = model.scores(vectors)
    masked = mask_scores(scores, seen_cells(histories))
    kth = -np.sort(-masked, axis=1)[:, min(k, masked.shape[1]) - 1]
    return _Rows(vectors, kth, np.maximum(scores.std(axis=1), 1e-6), histories)


def _replay_users(rec: Recommender, n_items: int, config: QuickConfig) -> list[str]:
    """A fixed-seed sample of the log's users, at most ~20M replay scores in all."""
    users = rec.users()
    n = min(config.replay_users, len(users), max(1, 20_000_000 // max(n_items, 1)))
    rng = np.random.default_rng(config.seed)
    return sorted(rng.choice(users, size=n, replace=False).tolist()) if n else []


def _fit(model: ServingModel, rows: _Rows, thumbs: pd.DataFrame, replay: _Rows, config: QuickConfig) -> ServingModel:
    """Adam on the thumbed items' (output vector, bias) deltas, starting at zero. No other item gets a
    gradient, so only these columns are modelled: a step costs (thumbs + replay users) x thumbed items."""
    import torch
    torch.manual_seed(config.seed)
    touched, column = np.unique(thumbs["item"].to_numpy(np.int64), return_inverse=True)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    out, bias = t(model.item_out[touched]), t(model.item_bias[touched])  # (m, dim), (m,)
    d_out = torch.zeros_like(out, requires_grad=True)
    d_bias = torch.zeros_like(bias, requires_grad=True)
    users, col = t(rows.users), torch.from_numpy(column.astype(np.int64))  # one user row per thumb
    sign = t(np.where(thumbs["label"] == "up", 1.0, -1.0))
    kth, spread = t(rows.threshold), t(rows.spread)
    r_users, r_spread = t(replay.users), t(replay.spread)[:, None]
    optim = torch.optim.Adam([d_out, d_bias], lr=_step_size(rows, config.lr))
    for _ in range(config.steps):
        score = (users * (out[col] + d_out[col])).sum(1) + bias[col] + d_bias[col]
        z = (score - kth) / spread  # > 0: above the user's k-th best score
        loss = torch.nn.functional.softplus(config.margin - sign * z).sum()
        if len(r_users):
            change = (r_users @ d_out.T + d_bias) / r_spread  # (replay users, m), in score spreads
            loss = loss + config.replay_weight * (change ** 2).sum(1).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    item_out, item_bias = model.item_out.copy(), model.item_bias.copy()
    with torch.no_grad():
        item_out[touched] += d_out.numpy()
        item_bias[touched] += d_bias.numpy()
    return replace(model, item_out=item_out.astype(np.float32), item_bias=item_bias.astype(np.float32))


def _step_size(rows: _Rows, lr: float) -> float:
    """Adam moves each coordinate by about its step size, so a step changes a score by up to
    step * |user| * sqrt(dim): scaled here so that this is `lr` of a typical user's score spread."""
    norm = float(np.sqrt((rows.users ** 2).sum(1).mean()))
    return lr * float(np.median(rows.spread)) / max(norm * np.sqrt(rows.users.shape[1]), 1e-6)


def _move(before: ServingModel, after: ServingModel, rows: _Rows, row: int, thumb) -> ThumbMove:
    ranks = [position_of(m.scores(rows.users[row][None])[0], thumb.item, rows.hidden[row]) for m in (before, after)]
    return ThumbMove(thumb.user_id, thumb.item_id, thumb.label, ranks[0], ranks[1])


def _kept(before: ServingModel, after: ServingModel, replay: _Rows, k: int) -> float:
    """Share of the replay users' top-k items (history excluded) still in their top k."""
    if not len(replay.users):
        return 1.0
    cells = seen_cells(replay.hidden)
    tops = [np.argsort(-mask_scores(m.scores(replay.users), cells), axis=1, kind="stable")[:, :k] for m in (before, after)]
    same = [len(set(a) & set(b)) for a, b in zip(tops[0], tops[1])]
    return float(np.sum(same) / tops[0].size)
