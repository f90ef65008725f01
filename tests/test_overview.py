from __future__ import annotations

import pytest

from recsys.overview import band


def warm(hr: float, users: int = 400, **others: float) -> dict:
    metrics = {"tuned": {"hr": hr, "ndcg": 0.0, "mrr": 0.0, "coverage": 0.0, "users": users, "k": 10}}
    for name, value in others.items():
        metrics[name.replace("_", "-")] = {**metrics["tuned"], "hr": value}
    return metrics


def test_the_band_is_the_binomial_95_percent_interval():
    assert band(0.5, 100) == pytest.approx(0.098)
    assert band(0.0, 10) == 0.0 and band(0.2, 0) == pytest.approx(1.96 * 0.4)


def test_a_fresh_workspace_says_the_untuned_model_serves_and_to_train_first(tiny_service):
    ov = tiny_service.overview()
    assert ov.headline == "v0001 (the language model as is (no training yet)) serves; it has not been evaluated yet."
    assert ov.next_step.startswith("Train a first round") and ov.thumbs == "No thumbs yet."
    assert ov.rounds == "0 training round(s) and 0 quick update(s) so far; 1 model versions in all."


def test_an_evaluated_model_is_one_sentence_against_untuned_and_the_best_baseline(tiny_service):
    tiny_service.ws.store.update_metrics("v0001", evaluation={
        "warm": warm(0.15, untuned_encoder=0.04, ease=0.08, popularity=0.05),
        "cold": warm(0.10, untuned_encoder=0.06, ease=0.0)})
    ov = tiny_service.overview()
    assert ov.headline == ("v0001 finds the next item in the top 10 for 15.0% of users (±3.5%); untuned 4.0%; "
                           "best classic baseline EASE 8.0%.")
    assert ov.cold == ("v0001 on brand-new items, finds it in the top 10 for 10.0% of users (±2.9%); untuned 6.0%; "
                       "the classic baselines cannot rank new items.")


def test_thumbs_not_yet_learned_are_counted_and_a_quick_update_borrows_its_bases_evaluation(tiny_service):
    tiny_service.ws.store.update_metrics("v0001", evaluation={"warm": warm(0.15, users=100)})
    tiny_service.record_thumb("u1", "i5", "up", "ann")
    tiny_service.record_thumb("u2", "i6", "down", "bob")
    ov = tiny_service.overview()
    assert ov.new_thumbs == 2 and ov.next_step.startswith("Apply the 2 new thumb(s) in seconds")
    assert ov.thumbs == "2 thumbs (1 up, 1 down) on 2 users from 2 annotator(s); 2 not yet learned by the active model."
    assert tiny_service.quick_round(background=False).state == "done"
    ov = tiny_service.overview()
    assert ov.new_thumbs == 0 and ov.rounds.startswith("0 training round(s) and 1 quick update(s)")
    assert ov.headline.startswith("v0002 finds the next item in the top 10 for 15.0% of users (±7.0%) "
                                  "(measured on v0001, before the quick updates)")
