"""The workspace in a few plain sentences (the app's first page): how well the active model finds what users
chose next, against the untuned model and the best classic baseline with the noise band; the rounds and the
thumbs so far; what to do next."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from recsys.quick import new_thumbs
from recsys.versions import ModelVersion, seen_thumbs

BASELINE_NAMES = {"popularity": "popularity", "itemknn": "ItemKNN", "ease": "EASE", "sasrec": "SASRec"}
UNTUNED = "untuned-encoder"


@dataclass(frozen=True)
class Overview:
    headline: str  # the active model in one sentence
    cold: str  # the same on brand-new items ("" when not measured)
    rounds: str
    thumbs: str
    next_step: str
    new_thumbs: int  # thumbs the active model has not learned from yet


def band(hit_rate: float, users: int) -> float:
    """Half-width of the 95% interval of a hit rate measured on `users` users (binomial)."""
    return 1.96 * math.sqrt(max(hit_rate * (1 - hit_rate), 0.0) / max(users, 1))


def describe(versions: list[ModelVersion], labels: pd.DataFrame, has_data: bool, job_running: bool) -> Overview:
    """labels: the ledger's current labels (user_id, item_id, label, annotator...)."""
    active = next((v for v in versions if v.active), None)
    if not has_data or active is None:
        return Overview("No data yet.", "", "", "", "Import a behaviour log and an item catalog on the Data page.", 0)
    fresh = len(new_thumbs(labels, seen_thumbs(active.path))) if not labels.empty else 0
    measured, note = _measured(active, versions)
    headline, cold = _quality(active, measured, note)
    return Overview(headline, cold, _rounds(versions), _thumbs(labels, fresh),
                    _next_step(active, measured, fresh, job_running), fresh)


def _measured(active: ModelVersion, versions: list[ModelVersion]) -> tuple[ModelVersion | None, str]:
    """The version whose evaluation describes the active one: itself, or for quick updates the version they
    were made from (said so)."""
    by_name, version, note = {v.name: v for v in versions}, active, ""
    while version is not None and not version.metrics.evaluation and version.config.get("round") == "quick":
        version = by_name.get(version.config.get("previous_version", ""))
        note = f" (measured on {version.name}, before the quick updates)" if version is not None else ""
    return (version, note) if version is not None and version.metrics.evaluation else (None, "")


def _quality(active: ModelVersion, measured: ModelVersion | None, note: str) -> tuple[str, str]:
    if measured is None:
        what = "the language model as is (no training yet)" if active.kind == "untuned" else active.label
        return f"{active.name} ({what}) serves; it has not been evaluated yet.", ""
    warm, cold = measured.metrics.evaluation.get("warm", {}), measured.metrics.evaluation.get("cold", {})
    cold_sentence = _sentence(active.name, {k: v for k, v in cold.items() if k not in BASELINE_NAMES},
                              "on brand-new items, finds it in the top", note)
    if cold_sentence:  # collaborative baselines score nothing they never saw
        cold_sentence = cold_sentence[:-1] + "; the classic baselines cannot rank new items."
    return _sentence(active.name, warm, "finds the next item in the top", note), cold_sentence


def _sentence(name: str, models: dict, verb: str, note: str) -> str:
    """'v0004 finds the next item in the top 10 for 15% of users (±1.5%); untuned 4%; EASE 8%.'"""
    tuned = models.get("tuned")
    if not tuned:
        return ""
    parts = [f"{name} {verb} {tuned['k']} for {tuned['hr']:.1%} of users (±{band(tuned['hr'], tuned['users']):.1%})"
             f"{note}"]
    if UNTUNED in models:
        parts.append(f"untuned {models[UNTUNED]['hr']:.1%}")
    baselines = {n: m for n, m in models.items() if n in BASELINE_NAMES}
    if baselines:
        best = max(baselines, key=lambda n: baselines[n]["hr"])
        parts.append(f"best classic baseline {BASELINE_NAMES[best]} {baselines[best]['hr']:.1%}")
    return "; ".join(parts) + "."


def _rounds(versions: list[ModelVersion]) -> str:
    quick = sum(v.config.get("round") == "quick" for v in versions)
    full = sum(v.kind != "untuned" and v.config.get("round") != "quick" for v in versions)
    return f"{full} training round(s) and {quick} quick update(s) so far; {len(versions)} model versions in all."


def _thumbs(labels: pd.DataFrame, fresh: int) -> str:
    if labels.empty:
        return "No thumbs yet."
    ups = int((labels["label"] == "up").sum())
    who = labels["annotator"].replace("", "(unnamed)").nunique() if "annotator" in labels else 0
    return (f"{len(labels)} thumbs ({ups} up, {len(labels) - ups} down) on {labels['user_id'].nunique()} users "
            f"from {who} annotator(s); {fresh} not yet learned by the active model.")


def _next_step(active: ModelVersion, measured: ModelVersion | None, fresh: int, job_running: bool) -> str:
    if job_running:
        return "A job is running: follow it on the Train page; every page stays usable meanwhile."
    if fresh:
        return (f"Apply the {fresh} new thumb(s) in seconds (Recommend page, 'Apply feedback now'), or train a full "
                "round on the Train page.")
    if active.kind == "untuned" and active.config.get("round") != "quick":
        return "Train a first round on the Train page (it also compares the result with the baselines)."
    if measured is None:
        return "Evaluate the active model on the Evaluate page to see it against the baselines."
    return "Label more recommendations on the Recommend page ('Label' mode), then apply them."
