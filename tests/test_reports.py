"""The documented tables of the Train, Evaluate and Feedback pages, from hand-made versions."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys.reports import feedback_counts, feedback_reports, metrics_table, rounds_table
from recsys.versions import ModelVersion, VersionMetrics

M = {"hr": 0.2, "ndcg": 0.1, "mrr": 0.05, "coverage": 0.5, "users": 10, "k": 10}


def version(name: str, metrics: dict, active: bool = False, kind: str = "adapter") -> ModelVersion:
    return ModelVersion(name, Path(name), 0.0, active, {"kind": kind}, VersionMetrics.from_dict(metrics))


def test_metrics_table_has_a_row_per_round_and_protocol_then_the_baselines_once():
    evaluation = {"warm": {"tuned": M, "ease": {**M, "ndcg": 0.08}}, "cold": {"tuned": {**M, "ndcg": 0.3}}}
    table = metrics_table([version("v0001", {}), version("v0002", {"evaluation": evaluation})])
    assert table[["model", "protocol", "ndcg"]].values.tolist() == [
        ["v0002", "warm", 0.1], ["v0002", "cold", 0.3], ["ease", "warm", 0.08]]


def test_feedback_reports_per_round():
    report = {"ups": 2, "downs": 1, "ups_in_top_k": 0.5, "downs_kept_out": 1.0}
    table = feedback_reports([version("v0001", {"feedback_seen": 3, "feedback_report": report})])
    assert table.iloc[0].tolist() == ["v0001", 3, 2, 1, 0.5, 1.0]


def test_rounds_table_shows_validation_and_evaluation_per_version():
    table = rounds_table([version("v0001", {}, kind="untuned"),
                          version("v0002", {"validation_ndcg@10": 0.07, "stopped_by": "early stopping",
                                            "evaluation": {"warm": {"tuned": M}}}, active=True)])
    shown = table[["version", "active", "kind", "validation NDCG@10", "warm NDCG@10", "stopped by"]].fillna("-")
    assert shown.values.tolist() == [["v0001", False, "untuned", "-", "-", ""],
                                     ["v0002", True, "adapter", 0.07, 0.1, "early stopping"]]


def test_feedback_counts_by_round_and_annotator():
    ledger = pd.DataFrame({"model_version": ["v1", "v1", None], "label": ["up", "down", "up"],
                           "annotator": ["ann", "", "ann"]})
    by_round, by_annotator = feedback_counts(ledger)
    assert by_round.to_dict() == {"down": {"?": 0, "v1": 1}, "up": {"?": 1, "v1": 1}}
    assert by_annotator.to_dict() == {"down": {"(none)": 1, "ann": 0}, "up": {"(none)": 0, "ann": 2}}


def test_a_round_summary_says_what_the_round_achieved_in_plain_words(tmp_path):
    from recsys.reports import round_summary
    from recsys.versions import ModelVersion, VersionMetrics
    metrics = VersionMetrics.from_dict({
        "validation_ndcg@10": 0.08, "epochs": 12.5, "stopped_by": "early stopping", "train_examples": 30000,
        "feedback_seen": 4, "seconds": 95.2, "activated": True,
        "validation_compared": {"new": 0.0812, "popularity": 0.031, "itemknn": 0.0645}})
    full = ModelVersion("v0003", tmp_path, 0.0, True, {"kind": "history"}, metrics)
    assert round_summary(full) == (
        "v0003: a recency-weighted history model, trained for 12.5 epochs in 95 s on 30,000 examples and 4 thumbs "
        "(stopped once held-out users stopped improving); on held-out users it ranks their next item at NDCG@10 "
        "0.081, against ItemKNN 0.065; it serves now.")
    held = ModelVersion("v0004", tmp_path, 0.0, False, {"kind": "attention"},
                        VersionMetrics.from_dict({"seconds": 300, "epochs": 3, "stopped_by": "time budget",
                                                  "activated": False}))
    assert round_summary(held) == (
        "v0004: a self-attention sequence model, trained for 3 epochs in 5.0 min on 0 examples and 0 thumbs (cut short "
        "by the time budget, so it depends on how busy the machine was); it was kept but not activated (it did not "
        "beat the others by more than the noise).")
    untuned = ModelVersion("v0001", tmp_path, 0.0, False, {"kind": "untuned"}, VersionMetrics())
    assert round_summary(untuned) == "v0001: the language model as is; nothing was trained yet."
