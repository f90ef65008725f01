from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.config import TrainConfig
from recsys.events import TrainEvent
from recsys.kinds import choose, fit_model
from recsys.loop_hooks import Check
from recsys.serving import ServingModel
from recsys.trainer import FitResult, fit_adapter
from tests.fakes import FakeEncoder
from tests.test_training import NO_FEEDBACK, pair_world

TINY = TrainConfig(dim=8, max_history=4, epochs=5, batch_size=32, lr=0.05, attention_lr=0.05, val_users=5,
                   min_examples=1, attention_blocks=1, seed=0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small gain nothing from threads, and two threads on busy cores spin-wait for seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return pair_world(20)


@pytest.fixture(scope="module")
def fixed_fits(world) -> dict[str, tuple[FitResult, list[TrainEvent]]]:
    df, ids, text = world
    out = {}
    for kind in ("history", "attention"):
        events: list[TrainEvent] = []
        out[kind] = fit_model(text, ids, df, NO_FEEDBACK, TrainConfig(**{**TINY.to_dict(), "kind": kind}),
                              [events.append]), events
    return out


@pytest.mark.parametrize("kind", ["history", "attention"])
def test_a_configured_kind_is_trained_as_is_and_says_so(fixed_fits, kind):
    fit, events = fixed_fits[kind]
    assert fit.kind == kind
    assert fit.kind_reason == f"{kind} model, as configured"
    assert fit.model.kind == kind
    assert fit.positives == {"min_rating": None, "event_weights": {}, "unrated": None}
    assert len(fit.val_users) == 5
    validated = [e.message for e in events if e.stage == "validate"]
    assert validated and all(m.startswith("epoch ") for m in validated)  # no kind prefix: one kind, nothing to tell apart
    assert [e.loss for e in events if e.loss is not None] == list(fit.losses)


def test_auto_trains_both_kinds_and_compares_them_through_the_serving_path(world, fixed_fits):
    df, ids, text = world
    events: list[TrainEvent] = []
    fit = fit_model(text, ids, df, NO_FEEDBACK, TINY, [events.append])  # TINY.kind == "auto"
    history = fixed_fits["history"][0]
    attention = fit_adapter(text, ids, df, NO_FEEDBACK, replace(TINY, kind="attention"), rival=history.curve)
    # the serving path's validation NDCG is the trainer's own (torch) validation NDCG of each kind
    scores = f"validation NDCG@10 attention {attention.best_val_ndcg:.4f} vs history {history.best_val_ndcg:.4f}"
    assert scores in fit.kind_reason
    kind, reason = choose({"history": history, "attention": attention}, df)
    if attention.stopped_by == "race":
        reason += f"; the attention model was stopped after {attention.epochs:g} epochs, behind the history model " \
                  "at the same epoch"
    assert (fit.kind, fit.kind_reason) == (kind, reason)
    assert fit.model.kind == kind
    np.testing.assert_array_equal(fit.model.item_out, {"history": history, "attention": attention}[kind].model.item_out)
    messages = [e.message for e in events if e.message]
    assert any(m.startswith("history model: epoch ") for m in messages)
    assert any(m.startswith("attention model: epoch ") for m in messages)
    assert messages[-1] == reason


def test_auto_races_the_attention_model_against_the_history_models_curve_and_says_when_it_stopped(monkeypatch):
    import recsys.kinds
    calls = []
    curve = (Check(1.0, 0.05), Check(2.0, 0.08))

    def fake_fit(text, item_ids, train, feedback, config, callbacks, cancel, rival):
        calls.append((config.kind, rival))
        stopped = "early stopping" if config.kind == "history" else "race"
        return FitResult(None, 2.0 if config.kind == "history" else 1.0, 0.0, 0, 0.0, (), stopped, curve=curve)
    monkeypatch.setattr(recsys.kinds, "fit_on_backend", fake_fit)
    monkeypatch.setattr(recsys.kinds, "choose", lambda fits, train: ("history", "history model chosen: because"))
    fit = fit_model(None, None, None, None, TINY)
    assert calls == [("history", ()), ("attention", curve)]
    assert fit.kind_reason == "history model chosen: because; the attention model was stopped after 1 epochs, " \
                              "behind the history model at the same epoch"


ITEMS = np.array(["a", "b", "t1", "t2", "z"], dtype=object)


def biased(bias: dict[str, float]) -> ServingModel:
    """Scores = item bias alone: every user gets the same list, history excluded."""
    n = len(ITEMS)
    return ServingModel(item_ids=ITEMS, item_in=np.eye(n, dtype=np.float32), item_out=np.zeros((n, n), np.float32),
                        item_bias=np.array([bias.get(i, 0.0) for i in ITEMS], np.float32),
                        position_logits=np.zeros(3, np.float32), in_adapter=np.eye(n, dtype=np.float32),
                        out_adapter=np.eye(n, dtype=np.float32))


def log_with_last_items(last: list[str]) -> pd.DataFrame:
    """Each user saw a, b, then their own last item (held out for validation)."""
    rows = [(f"u{k}", item, t) for k, final in enumerate(last) for t, item in enumerate(["a", "b", final])]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(row=lambda d: np.arange(len(d)))


def fits_of(history: ServingModel, attention: ServingModel, users: int) -> dict[str, FitResult]:
    val = tuple(f"u{k}" for k in range(users))
    return {kind: FitResult(model, 1.0, 0.0, 0, 0.0, (), val_users=val)
            for kind, model in (("history", history), ("attention", attention))}


T1_FIRST, T2_FIRST = biased({"t1": 3.0, "t2": 2.0}), biased({"t2": 3.0, "t1": 2.0})


def test_attention_is_chosen_when_it_wins_beyond_the_noise():
    train = log_with_last_items(["t1"] * 4)
    kind, reason = choose(fits_of(T2_FIRST, T1_FIRST, 4), train)
    assert kind == "attention"  # every user: NDCG 1 against 1/log2(3); the paired difference has no spread
    assert reason == "attention model chosen: validation NDCG@10 attention 1.0000 vs history 0.6309, " \
                     "a gain beyond the noise (±0.0000)"


def test_history_is_kept_when_the_attention_gain_is_within_the_noise():
    train = log_with_last_items(["t1", "t1", "t1", "t2", "t2"])
    kind, reason = choose(fits_of(T2_FIRST, T1_FIRST, 5), train)
    # differences d, d, d, -d, -d (d = 1 - 1/log2(3)): mean 0.0738 < standard error 0.1808
    assert kind == "history"
    assert reason == "history model chosen: validation NDCG@10 attention 0.8524 vs history 0.7786; attention does " \
                     "not beat it by more than the noise (±0.1808), and the history model is the simpler one"


def test_a_worse_attention_model_is_called_worse():
    train = log_with_last_items(["t1"] * 4)
    kind, reason = choose(fits_of(T1_FIRST, T2_FIRST, 4), train)
    assert kind == "history"
    assert reason == "history model chosen: validation NDCG@10 attention 0.6309 vs history 1.0000; attention is " \
                     "worse by more than the noise (±0.0000)"


def test_equal_models_keep_the_simpler_history_model():
    kind, reason = choose(fits_of(T1_FIRST, T1_FIRST, 4), log_with_last_items(["t1", "t2", "t1", "t2"]))
    assert kind == "history"
    assert "(±0.0000)" in reason


def test_without_validation_users_the_history_model_is_kept():
    assert choose(fits_of(T2_FIRST, T1_FIRST, 0), log_with_last_items(["t1"])) == \
        ("history", "history model: too few users to compare the kinds on")


def test_an_attention_round_trains_on_data_with_many_dislikes():
    rows = [(f"u{u}", f"i{(u + j) % 6}", j, (1.0 if u < 3 else 5.0) if j else [1.0, 3.0, 5.0][u % 3])
            for u in range(6) for j in range(5)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"]).assign(event="", row=np.arange(30))
    ids = np.array([f"i{k}" for k in range(6)], dtype=object)
    text = FakeEncoder(["space", "cake", "sea"]).encode(["space", "cake", "sea", "space sea", "cake sea", "x"])
    config = TrainConfig(kind="attention", dim=8, max_history=2, epochs=20, batch_size=4, attention_lr=0.01,
                         val_users=0, min_examples=1, history_dropout=0.0)
    fit = fit_model(text, ids, df, NO_FEEDBACK, config)
    assert fit.positives["min_rating"] == pytest.approx(2.2)  # users u0-u2 rated everything after their first 1 star
    assert np.isfinite(fit.losses).all()
