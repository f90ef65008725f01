"""Tables the Evaluate and Feedback pages show (and the CLI can print): documented DataFrames."""
from __future__ import annotations

import pandas as pd

from recsys.versions import ModelVersion


def metrics_table(versions: list[ModelVersion]) -> pd.DataFrame:
    """One row per (round or baseline, protocol): model, protocol, hr, ndcg, mrr, coverage, k.
    Baselines are taken from the newest evaluated round (they do not depend on the round)."""
    rows, baselines = [], None
    for v in versions:
        evaluation = v.metrics.evaluation
        if not evaluation:
            continue
        for protocol, models in evaluation.items():
            m = models["tuned"]
            rows.append({"model": v.name, "protocol": protocol, **{k: m[k] for k in ("hr", "ndcg", "mrr", "coverage", "k")}})
        baselines = evaluation
    for protocol, models in (baselines or {}).items():
        for name, m in models.items():
            if name != "tuned":
                rows.append({"model": name, "protocol": protocol,
                             **{k: m[k] for k in ("hr", "ndcg", "mrr", "coverage", "k")}})
    return pd.DataFrame(rows, columns=["model", "protocol", "hr", "ndcg", "mrr", "coverage", "k"])


def feedback_reports(versions: list[ModelVersion]) -> pd.DataFrame:
    """Per round: thumbs it trained on and how it treats them (before the serving filter)."""
    rows = []
    for v in versions:
        rep = v.metrics.feedback_report or {}
        rows.append({"model": v.name, "thumbs seen": v.metrics.feedback_seen, "ups": rep.get("ups", 0),
                     "downs": rep.get("downs", 0), "ups in top 10": rep.get("ups_in_top_k"),
                     "downs kept out": rep.get("downs_kept_out")})
    return pd.DataFrame(rows)


def feedback_counts(ledger_frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(thumbs per model version and label, thumbs per annotator and label)."""
    if ledger_frame.empty:
        empty = pd.DataFrame(columns=["up", "down"])
        return empty, empty
    by_round = pd.crosstab(ledger_frame["model_version"].fillna("?"), ledger_frame["label"])
    by_annotator = pd.crosstab(ledger_frame["annotator"].replace("", "(none)"), ledger_frame["label"])
    return by_round, by_annotator


def rounds_table(versions: list[ModelVersion]) -> pd.DataFrame:
    """One row per version: version, active, kind, validation / warm / cold NDCG@10, thumbs seen, seconds,
    stopped by, created (the Train page's rounds table)."""
    rows = [{"version": v.name, "active": v.active, "kind": v.label, "validation NDCG@10": v.metrics.validation_ndcg,
             "warm NDCG@10": v.metrics.evaluated("warm"), "cold NDCG@10": v.metrics.evaluated("cold"),
             "thumbs seen": v.metrics.feedback_seen, "seconds": v.metrics.seconds, "stopped by": v.metrics.stopped_by,
             "created": pd.Timestamp(v.created, unit="s").strftime("%Y-%m-%d %H:%M")} for v in versions]
    return pd.DataFrame(rows, columns=["version", "active", "kind", "validation NDCG@10", "warm NDCG@10",
                                       "cold NDCG@10", "thumbs seen", "seconds", "stopped by", "created"])


KIND_WORDS = {"history": "recency-weighted history model", "attention": "self-attention sequence model"}
RIVAL_NAMES = {"active": "the version active before", "itemknn": "ItemKNN", "popularity": "popularity"}
STOPS = {"early stopping": "stopped once held-out users stopped improving", "epochs": "ran all its epochs",
         "time budget": "cut short by the time budget, so it depends on how busy the machine was",
         "race": "stopped once it was behind the other model kind at the same epoch"}


def round_summary(version: ModelVersion) -> str:
    """What a round achieved, in one sentence a stakeholder can read."""
    m, extra = version.metrics, version.metrics.extra
    if version.config.get("round") == "quick":
        quick = extra.get("quick", {})
        return (f"{version.name}: a quick update of {quick.get('base', '?')} in {m.seconds or 0:.1f} s; "
                f"{quick.get('summary', '')}.")
    if version.kind == "untuned":
        return f"{version.name}: the language model as is; nothing was trained yet."
    what = KIND_WORDS.get(version.kind, f"{version.kind} model")
    parts = [f"{version.name}: a {what}, trained for {m.epochs or 0:g} epochs in {_duration(m.seconds)} on "
             f"{m.train_examples or 0:,} examples and {m.feedback_seen} thumbs ({STOPS.get(m.stopped_by, m.stopped_by)})"]
    scores = extra.get("validation_compared") or {}
    rivals = {k: v for k, v in scores.items() if k != "new"}
    if "new" in scores and rivals:
        best = max(rivals, key=rivals.get)
        parts.append(f"on held-out users it ranks their next item at NDCG@10 {scores['new']:.3f}, against "
                     f"{RIVAL_NAMES.get(best, best)} {rivals[best]:.3f}")
    parts.append("it serves now" if version.active else _why_not_serving(extra))
    return "; ".join(parts) + "."


def _why_not_serving(extra: dict) -> str:
    if extra.get("activated") is not False:
        return "another version serves now"
    if "forgetting guard" in str(extra.get("activation", "")):
        return ("it was kept but not activated: its tuned language model drifted too far from the base's general "
                "sense of language (the forgetting guard)")
    return "it was kept but not activated (it did not beat the others by more than the noise)"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
