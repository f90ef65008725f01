"""What counts as a positive: a rule over ratings and event types that turns each logged interaction into a
training weight (> 0: a positive that is learned as a next item; 0: no target) and marks disliked ones (a low
explicit rating), which training pushes down as it does thumbs-down. Defaults are read from the data."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from recsys.errors import RecTuneError

# Events whose names say how strong a signal they are; any other event weighs 1.
EVENT_DEFAULTS = {"purchase": 3.0, "buy": 3.0, "order": 3.0, "transaction": 3.0, "checkout": 3.0,
                  "cart": 2.0, "addtocart": 2.0, "add_to_cart": 2.0, "wishlist": 2.0, "like": 2.0,
                  "view": 1.0, "click": 1.0, "pageview": 1.0, "impression": 1.0}
LOW_SHARE = 0.3  # explicit ratings in the lowest 30% of the scale are dislikes (1-2 of 1-5, 1-3 of 1-10)
MIN_SCALE = 3  # distinct values that make a rating column a scale
DOMINANT = 3.0  # a foot value this many times as common as the next value up stands apart from the scale
DETECT = "detect"  # default_rule: find the "not rated" value in the data


@dataclass(frozen=True)
class PositiveRule:
    """min_rating: ratings below it are not positives but dislikes (None: every rating is a positive);
    event_weights: weight per event name (0 = not a positive), unlisted events weigh 1;
    unrated: a rating value that means no rating was given (Book-Crossing's 0: the user read the book but did
    not rate it): an implicit interaction, a positive of weight 1, never a dislike (None: no such value)."""

    min_rating: float | None = None
    event_weights: dict = field(default_factory=dict)
    unrated: float | None = None

    def describe(self) -> str:
        parts = [f"ratings >= {self.min_rating:g} are positives, lower ones count as thumbs-down"
                 if self.min_rating is not None else "every interaction is a positive"]
        if self.min_rating is not None and self.unrated is not None:
            parts.append(f"a rating of {self.unrated:g} means none was given (an implicit interaction): a positive")
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
            if self.unrated is not None:
                disliked &= rating != self.unrated
            weight[disliked] = 0.0
        if self.event_weights and "event" in interactions:
            names = interactions["event"].astype(str).str.lower().str.strip()
            weight *= names.map(self.event_weights).fillna(1.0).to_numpy(dtype=np.float32)
        return weight, disliked


def default_rule(interactions: pd.DataFrame, unrated: float | str | None = DETECT) -> PositiveRule:
    """Read from the data: an explicit 1-5 / 0.5-5 / 1-10 style rating column -> its lowest part are dislikes,
    after setting aside a value that means "not rated" (unrated_value, or the one given; None: none); known event
    names get their usual strengths (purchase 3, cart 2, view 1)."""
    min_rating = None
    if "rating" not in interactions:
        unrated = None
    else:
        rating = pd.to_numeric(interactions["rating"], errors="coerce").dropna()
        unrated = unrated_value(rating) if unrated == DETECT else unrated
        scale = rating if unrated is None else rating[rating != unrated]
        if len(scale) and scale.nunique() >= MIN_SCALE:
            low, high = float(scale.min()), float(scale.max())
            explicit = low >= 0 and high <= 10 and (scale * 2 == (scale * 2).round()).all()
            if explicit and high > low:
                min_rating = low + LOW_SHARE * (high - low)
        unrated = unrated if min_rating is not None else None
    events = {}
    if "event" in interactions:
        names = set(pd.Series(interactions["event"].dropna().unique()).astype(str).str.lower().str.strip()) - {""}
        if len(names) >= 2:
            events = {name: EVENT_DEFAULTS.get(name, 1.0) for name in sorted(names)}
    return PositiveRule(min_rating, events, unrated)


def unrated_value(rating: pd.Series) -> float | None:
    """The lowest value of a rating column when it stands for "no rating" rather than the worst one: it is at
    most 0, below a scale of at least MIN_SCALE other values, and either dominant (the most common value and at
    least DOMINANT times as common as the next value up: Book-Crossing's 0 is 62% of its rows, ~400 times its
    1s, while a worst grade such as graded relevance's 0 is seldom even twice the next grade) or, when negative,
    set apart from the scale by a gap wider than the scale's usual (median) step (the -1 of "watched, not rated"
    below 1-10). A 0 under a scale with a missing grade or a few stray half marks stays the worst mark."""
    counts = rating.value_counts()
    if len(counts) < MIN_SCALE + 1:
        return None
    values = np.sort(counts.index.to_numpy(dtype=float))
    lowest, scale = values[0], values[1:]
    if lowest > 0:
        return None
    dominant = counts[lowest] >= counts.max() and counts[lowest] >= DOMINANT * counts[scale[0]]
    apart = lowest < 0 and scale[0] - lowest > float(np.median(np.diff(scale))) + 1e-9
    return float(lowest) if dominant or apart else None


def parse_unrated(text: str, name: str) -> float | str | None:
    """A "not rated" value as a person types it (`name`: where, for the error): blank -> DETECT (read from the
    data), "none" -> None (no such value), else a number."""
    text = text.strip()
    if not text:
        return DETECT
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):  # "nan" or "inf" would match no rating
        raise RecTuneError(f"{name}: '{text}' is not a number or 'none' (e.g. 0).")
    return value


def unrated_setting(text: str, name: str) -> dict:
    """The positives fields a typed "not rated" value sets (parse_unrated): {} when blank (read from the data)."""
    value = parse_unrated(text, name)
    return {} if value == DETECT else {"unrated": value}


def positives_setting(value, name: str = "positives") -> dict:
    """A positives rule as a person gives it (a JSON config, flags), checked and normalised: a dict of
    PositiveRule fields, each a number (min_rating, unrated: also None or, for unrated, the text parse_unrated
    reads; blank drops the field, so it is read from the data) or event weights {name: weight >= 0}. A
    RecTuneError names the field and what to write instead."""
    if value is None:
        return {}
    fields = set(asdict(PositiveRule()))
    if not isinstance(value, dict) or set(value) - fields:
        extra = f" (unknown: {', '.join(sorted(map(str, set(value) - fields)))})" if isinstance(value, dict) else ""
        raise RecTuneError(f"{name}: give an object with some of {', '.join(sorted(fields))}{extra}.")
    out = dict(value)
    if isinstance(out.get("unrated"), str):
        out["unrated"] = parse_unrated(out["unrated"], f"{name}.unrated")
        if out["unrated"] == DETECT:
            del out["unrated"]
    for key in ("min_rating", "unrated"):
        if key in out and not (out[key] is None or _finite(out[key])):
            raise RecTuneError(f"{name}.{key}: '{out[key]}' is not a number or null.")
    weights = out.get("event_weights", {})
    if not isinstance(weights, dict) or not all(_finite(w) and w >= 0 for w in weights.values()):
        raise RecTuneError(f"{name}.event_weights: give an object of event name -> weight >= 0, e.g. "
                           '{"purchase": 3, "view": 1}.')
    if "event_weights" in out:
        out["event_weights"] = {str(k).strip().lower(): float(w) for k, w in weights.items()}
    return {k: (float(v) if k != "event_weights" and v is not None else v) for k, v in out.items()}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def rule_from_config(saved: dict | None, interactions: pd.DataFrame) -> PositiveRule:
    """The rule a training config asks for: None or {} = read from the data; else the saved fields, each one it
    lacks read from the data (a flag that sets only the event weights keeps the data's rating threshold)."""
    if not saved:
        return default_rule(interactions)
    data = default_rule(interactions, saved.get("unrated", DETECT)) if set(asdict(PositiveRule())) - set(saved) \
        else PositiveRule()  # a given "not rated" value is set aside before the data's threshold is read
    return PositiveRule(saved.get("min_rating", data.min_rating),
                        dict(saved.get("event_weights", data.event_weights) or {}), saved.get("unrated", data.unrated))
