"""Whether a new round should serve: it is activated unless, on the round's own validation users, it is
worse than the version now active (same catalog) or the best cheap baseline (popularity, ItemKNN) by more than
the noise: a paired per-user comparison, refused when the mean NDCG@10 difference is below minus one standard
error (a round level with a rival within the noise is not held back)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.baselines import ITEMKNN_MAX_ITEMS, ItemKNN, Popularity, ServedModel
from recsys.protocols import Split, per_user_ndcg
from recsys.serving import ServingModel


@dataclass(frozen=True)
class GateDecision:
    activate: bool
    reason: str
    scores: dict  # validation NDCG@10 per model: 'new', 'active' (if comparable), baselines


def validation_split(interactions: pd.DataFrame, val_users: list[str]) -> Split:
    """Each validation user's last interaction held out (as the trainer held it out), the rest as training."""
    df = interactions.sort_values(["user_id", "timestamp", "row"], kind="mergesort")
    last = df[df["user_id"].isin(set(val_users))].groupby("user_id").tail(1)
    return Split("validation", df.drop(last.index).reset_index(drop=True),
                 last[["user_id", "item_id"]].reset_index(drop=True))


def decide(new: ServingModel, active: ServingModel | None, interactions: pd.DataFrame, val_users: list[str],
           k: int = 10) -> GateDecision:
    if not val_users:
        return GateDecision(True, "activated: too few users to validate on", {})
    split = validation_split(interactions, val_users)
    item_ids = new.item_ids
    scorers = {"new": ServedModel("new", lambda train, ids: new), "popularity": Popularity()}
    if len(item_ids) <= ITEMKNN_MAX_ITEMS:
        scorers["itemknn"] = ItemKNN()
    if active is not None and np.array_equal(active.item_ids, item_ids):
        scorers["active"] = ServedModel("active", lambda train, ids: active)
    gains = {name: per_user_ndcg(s, split, item_ids, k) for name, s in scorers.items()}
    scores = {name: float(g.mean()) for name, g in gains.items()}
    rivals = {name: v for name, v in scores.items() if name != "new"}
    best = max(rivals, key=rivals.get)
    diff = gains["new"] - gains[best]  # paired: the same users, the same held-out items
    noise = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    if diff.mean() < -noise:
        return GateDecision(False, f"kept but not activated: validation NDCG@{k} {scores['new']:.4f} is below "
                                   f"{_name(best)} ({rivals[best]:.4f}) by more than the noise (±{noise:.4f}); "
                                   "activate it by hand if you want it", scores)
    verb = "beats" if diff.mean() > noise else f"is level, within the noise (±{noise:.4f}), with"
    return GateDecision(True, f"activated: validation NDCG@{k} {scores['new']:.4f} {verb} {_name(best)} "
                              f"({rivals[best]:.4f})", scores)


def _name(key: str) -> str:
    return {"active": "the active version", "itemknn": "ItemKNN", "popularity": "popularity"}.get(key, key)
