from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.config import TrainConfig
from recsys.recommend import Recommender
from recsys.rerank import (
    RERANK_DIR,
    RERANK_FILE,
    Catalog,
    Reranker,
    catalog_of,
    fit_fusion,
    training_groups,
    without_held_out,
)
from recsys.rounds import run_quick_round, run_round
from recsys.sequences import user_sequences
from recsys.serving import ServingModel

FIRST = np.array([3.0, 2.0, 1.0])  # the first stage puts the target (index 2) third


def test_catalog_query_names_the_most_recent_titles():
    catalog = Catalog(np.array(["A", "B", "C", "D"]), np.array(["a", "b", "c", "d"]), history=2)
    assert catalog.query(np.array([0, 3, -1, 1])) == "Recently: D; B"


def test_catalog_of_follows_the_model_item_order():
    items = pd.DataFrame({"item_id": [2, 1], "title": ["two", "one"], "text": ["two!", "one!"]})
    catalog = catalog_of(items, np.array(["1", "2"], dtype=object), 5)
    assert catalog.titles.tolist() == ["one", "two"] and catalog.texts.tolist() == ["one!", "two!"]


def test_fusion_weight_and_honest_gain_when_the_reranker_finds_the_target():
    """z(first) = [1.22, 0, -1.22], z(second) = [-0.71, -0.71, 1.41]: the target leads from weight 0.54 on."""
    second = np.array([0.0, 0.0, 5.0])
    fusion, report = fit_fusion([FIRST] * 4, [second] * 4, [2] * 4, n_users=10, top_n=30, history=5)
    assert fusion.weight == pytest.approx(0.6) and report["weight"] == pytest.approx(0.6)
    assert report["ndcg_first_stage"] == pytest.approx(0.2)  # 4 users at position 3 (gain 0.5) of 10
    assert report["ndcg_fused"] == pytest.approx(0.4) and report["gain"] == pytest.approx(0.2)
    assert report["noise"] == pytest.approx(np.sqrt(0.6 / 9) / np.sqrt(10))
    assert report["users_with_target_in_top_n"] == 4 and report["validation_users"] == 10


def test_a_reranker_that_points_away_from_the_target_gets_weight_zero():
    second = np.array([5.0, 0.0, 0.0])
    fusion, report = fit_fusion([FIRST] * 4, [second] * 4, [2] * 4, n_users=4, top_n=30, history=5)
    assert fusion.weight == 0.0 and report["gain"] == 0.0 and report["ndcg_fused"] == report["ndcg_first_stage"]


def tiny_parts(service):
    dataset = service.ws.load_dataset()
    model = ServingModel.load(service.ws.models_dir / "v0001")
    sequences = user_sequences(dataset.interactions, model.item_ids)
    catalog = catalog_of(dataset.items, model.item_ids, 5)
    return model, sequences, catalog, dict(zip(catalog.texts, model.item_ids))


NO_THUMBS = pd.DataFrame(columns=["user_id", "item_id", "label"])


def test_training_negatives_are_first_stage_picks_the_user_never_touched_before_or_after(tiny_service):
    model, sequences, catalog, ids = tiny_parts(tiny_service)
    positive = {u: np.ones(len(s), dtype=bool) for u, s in sequences.items()}
    config = TrainConfig(rerank_groups=8, rerank_negatives=2, rerank_top_n=10)
    groups = training_groups(model, sequences, positive, ["u2"], catalog, NO_THUMBS, config, np.random.default_rng(0))
    assert len(groups) == 4  # at most 4 a user; u2 logged i3, i1, i4: targets i1 or i4, never the first step
    for query, docs in groups:
        assert query.startswith("Recently: Cake Day") and ids[docs[0]] in {"i1", "i4"}
        assert {ids[d] for d in docs[1:]} <= {"i2", "i5", "i6"} and len(docs) == 3  # i4 is no negative of i1


def test_a_validation_users_held_out_item_may_be_a_negative_as_a_served_users_next_item_may(tiny_service):
    model, sequences, catalog, ids = tiny_parts(tiny_service)
    positive = {u: np.ones(len(s), dtype=bool) for u, s in sequences.items()}
    trimmed, targets = without_held_out(sequences, positive, {"u2"})
    assert trimmed["u2"].tolist() == sequences["u2"][:-1].tolist() and len(targets["u2"]) == 2  # i3, i1 (not i4)
    assert trimmed["u1"] is sequences["u1"] and targets["u1"] is positive["u1"]
    config = TrainConfig(rerank_groups=8, rerank_negatives=3, rerank_top_n=10)
    groups = training_groups(model, trimmed, targets, ["u2"], catalog, NO_THUMBS, config, np.random.default_rng(0))
    assert groups and {ids[docs[0]] for _, docs in groups} == {"i1"}  # the held-out i4 is never a target
    assert any("i4" in {ids[d] for d in docs[1:]} for _, docs in groups)  # but may be a negative, as i2, i5, i6


def test_only_positive_steps_are_training_targets(tiny_service):
    model, sequences, catalog, ids = tiny_parts(tiny_service)
    positive = {"u3": np.array([True, True, False])}  # u3 logged i5, i3, i6; the i6 step is not a positive
    config = TrainConfig(rerank_groups=6, rerank_negatives=2, rerank_top_n=10)
    groups = training_groups(model, sequences, positive, ["u3"], catalog, NO_THUMBS, config, np.random.default_rng(0))
    assert len(groups) == 4 and {ids[docs[0]] for _, docs in groups} == {"i3"}  # at most 4 groups a user


def test_thumb_groups_set_an_up_against_the_downs_then_top_picks(tiny_service):
    model, sequences, catalog, ids = tiny_parts(tiny_service)
    positive = {u: np.ones(len(s), dtype=bool) for u, s in sequences.items()}
    thumbs = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["i5", "i6"], "label": ["up", "down"]})
    config = TrainConfig(rerank_groups=8, rerank_negatives=2, rerank_top_n=10)
    groups = training_groups(model, sequences, positive, ["u1", "u2"], catalog, thumbs, config,
                             np.random.default_rng(0))
    thumb_groups = [docs for _, docs in groups if ids[docs[0]] == "i5"]
    assert len(groups) == 9 and [[ids[d] for d in docs] for docs in thumb_groups] == [["i5", "i6", "i4"]]


def test_a_round_with_the_reranker_on_serves_fused_scores_and_both_stage_scores(tiny_service, fake_encoder):
    config = TrainConfig(dim=8, max_history=5, epochs=2, batch_size=8, val_users=2, min_examples=1, rerank="on",
                         rerank_groups=8, rerank_top_n=10)
    result = run_round(tiny_service.ws, config, lambda name: fake_encoder)
    folder = tiny_service.ws.models_dir / result.version
    assert (folder / RERANK_FILE).exists() and (folder / RERANK_DIR / "config.json").exists()
    report = result.metrics["rerank"]
    assert report["keep"] is True and report["mode"] == "on" and report["groups"] == 8
    assert report["summary"].startswith("re-ranker on, as configured: validation NDCG@10 ")
    rec = Recommender.from_workspace(tiny_service.ws, result.version)
    assert isinstance(rec.reranker, Reranker)
    picks = rec.recommend("u1", 3)
    assert [r.rank for r in picks] == [1, 2, 3] and not {"i1", "i2", "i3"} & {r.item_id for r in picks}
    assert all(r.first_score is not None and r.rerank_score is not None for r in picks)
    assert [r.score for r in picks] == sorted((r.score for r in picks), reverse=True)
    assert [r.item_id for r in rec.first_stage().recommend("u1", 3)] == \
        [r.item_id for r in Recommender(rec.model, tiny_service.ws.load_dataset().interactions).recommend("u1", 3)]
    tiny_service.record_thumb("u1", picks[0].item_id, "down", "test")
    quick = run_quick_round(tiny_service.ws)  # a quick update keeps the base's second stage
    assert (tiny_service.ws.models_dir / quick.version / RERANK_FILE).exists()
    assert Recommender.from_workspace(tiny_service.ws, quick.version).reranker.fusion == rec.reranker.fusion


def test_auto_keeps_and_saves_the_reranker_only_with_a_gain_beyond_the_noise(tiny_service, fake_encoder):
    config = TrainConfig(dim=8, max_history=5, epochs=2, batch_size=8, val_users=2, min_examples=1, rerank="auto",
                         rerank_groups=4, rerank_top_n=10)
    result = run_round(tiny_service.ws, config, lambda name: fake_encoder)
    report = result.metrics["rerank"]
    assert report["keep"] is (report["gain"] > report["noise"])
    assert (tiny_service.ws.models_dir / result.version / RERANK_FILE).exists() is report["keep"]
    assert Recommender.from_workspace(tiny_service.ws, result.version).reranker is None or report["keep"]
