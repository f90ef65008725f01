"""What counts as a positive: a rule over ratings and event types that turns each logged interaction into a
training weight (> 0: a positive that is learned as a next item; 0: no target) and marks disliked ones (a low
explicit rating), which training pushes down as it does thumbs-down. Defaults are read from the data."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

# Events whose names say how strong a signal they are; any other event weighs 1.
EVENT_DEFAULTS = {"purchase": 3.0, "buy": 3.0, "order": 3.0, "transaction": 3.0, "checkout": 3.0,
                  "cart": 2.0, "addtocart": 2.0, "add_to_cart": 2.0, "wishlist": 2.0, "like": 2.0,
                  "view": 1.0, "click": 1.0, "pageview": 1.0, "impression": 1.0}
LOW_SHARE = 0.3  # explicit ratings in the lowest 30% of the scale are dislikes (1-2 of 1-5, 1-3 of 1-10)


@dataclass(frozen=True)
class PositiveRule:
    """min_rating: ratings below it are not positives but dislikes (None: every rating is a positive);
    event_weights: weight per event name (0 = not a positive), unlisted events weigh 1."""

    min_rating: float | None = None
    event_weights: dict = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"ratings >= {self.min_rating:g} are positives, lower ones count as thumbs-down"
                 if self.min_rating is not None else "every interaction is a positive"]
        if self.event_weights:
            parts.append("event weights " + ", ".join(f"{k} {v:g}" for k, v in sorted(self.event_weights.items())))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)

    def weights(self, interactions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(weight per row, disliked per row): weight 0 for a row that is not a positive."""
        n = len(interactions)
        weight = np.ones(n, dtype=np.float32)
        disliked = np.zeros(n, dtype=bool)
        if self.min_rating is not None and "rating" in interactions:
            rating = interactions["rating"].to_numpy(dtype=float)
            disliked = ~np.isnan(rating) & (rating < self.min_rating)
            weight[disliked] = 0.0
        if self.event_weights and "event" in interactions:
            names = interactions["event"].astype(str).str.lower().str.strip()
            weight *= names.map(self.event_weights).fillna(1.0).to_numpy(dtype=np.float32)
        return weight, disliked


def default_rule(interactions: pd.DataFrame) -> PositiveRule:
    """Read from the data: an explicit 1-5 / 0.5-5 / 1-10 style rating column -> its lowest part are dislikes;
    known event names get their usual strengths (purchase 3, cart 2, view 1)."""
    min_rating = None
    if "rating" in interactions:
        rating = pd.to_numeric(interactions["rating"], errors="coerce").dropna()
        if len(rating) and rating.nunique() >= 3:
            low, high = float(rating.min()), float(rating.max())
            explicit = low >= 0 and high <= 10 and (rating * 2 == (rating * 2).round()).all()
            if explicit and high > low:
                min_rating = low + LOW_SHARE * (high - low)
    events = {}
    if "event" in interactions:
        names = set(pd.Series(interactions["event"].dropna().unique()).astype(str).str.lower().str.strip()) - {""}
        if len(names) >= 2:
            events = {name: EVENT_DEFAULTS.get(name, 1.0) for name in sorted(names)}
    return PositiveRule(min_rating, events)


def rule_from_config(saved: dict | None, interactions: pd.DataFrame) -> PositiveRule:
    """The rule a training config asks for: None or {} = read from the data; else the saved fields."""
    if not saved:
        return default_rule(interactions)
    return PositiveRule(saved.get("min_rating"), dict(saved.get("event_weights") or {}))
