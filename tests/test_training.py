from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.config import TrainConfig, train_config
from recsys.errors import RecTuneError
from recsys.events import Cancelled
from recsys.loop_hooks import Check
from recsys.sequences import build_training_examples, history_rows, user_sequences
from recsys.step import drop_history
from recsys.trainer import _loop_setup, _unliked, fit_adapter
from tests.fakes import FakeEncoder

NO_FEEDBACK = pd.DataFrame(columns=["user_id", "item_id", "label"])
FAST = TrainConfig(dim=16, max_history=4, epochs=30, batch_size=64, lr=0.05, val_users=0, seed=0, min_examples=1)


def test_examples_are_every_next_item_with_its_left_padded_history():
    seqs = {"a": np.array([0, 1, 2]), "b": np.array([3, 4])}
    ex = build_training_examples(seqs, max_history=2, n_items=9)
    assert ex.history.tolist() == [[9, 0], [0, 1], [9, 3]]
    assert ex.target.tolist() == [1, 2, 4]
    held = build_training_examples(seqs, max_history=2, n_items=9, skip_last={"a"})
    assert held.target.tolist() == [1, 4]


def test_history_rows_take_the_latest_items():
    seqs = {"a": np.array([5, 6, 7])}
    assert history_rows(seqs, ["a", "zz"], 2, 9).tolist() == [[6, 7], [9, 9]]
    assert history_rows(seqs, ["a"], 4, 9, drop_last=True).tolist() == [[9, 9, 5, 6]]


def pair_world(n_users: int = 60, pairs: int = 4) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """p_k is always followed by q_k: a taste no text shows (all p read 'space', all q read 'cake')."""
    ids = np.array([f"p{k}" for k in range(pairs)] + [f"q{k}" for k in range(pairs)])
    texts = ["space"] * pairs + ["cake"] * pairs
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        for t, k in enumerate(rng.permutation(pairs)[:3]):
            rows += [(f"u{u}", f"p{k}", 2 * t), (f"u{u}", f"q{k}", 2 * t + 1)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(row=lambda d: np.arange(len(d)))
    text = FakeEncoder(["space", "cake"]).encode(texts)
    return df, ids, text


def test_tuning_learns_a_taste_that_the_text_does_not_show():
    df, ids, text = pair_world()
    result = fit_adapter(text, ids, df, NO_FEEDBACK, FAST)
    model = result.model
    for k in range(4):
        scores = model.item_out @ model.user_vector(np.array([k])) + model.item_bias
        scores[k] = -np.inf
        assert ids[int(np.argmax(scores))] == f"q{k}"
    assert result.losses[-1] < result.losses[0]


def partners_found(model, ids: np.ndarray, pairs: int) -> int:
    """How many p_k users (history [p_k]) get q_k as their top item, p_k itself left out."""
    found = 0
    for k in range(pairs):
        scores = model.item_out @ model.user_vector(np.array([k])) + model.item_bias
        scores[k] = -np.inf
        found += ids[int(np.argmax(scores))] == f"q{k}"
    return found


def test_with_both_softmax_paths_sampled_tuning_still_learns_the_taste_and_thumbs_down_still_push():
    df, ids, text = pair_world(n_users=300, pairs=20)
    config = TrainConfig(**{**FAST.to_dict(), "softmax_items": 16, "text_softmax_items": 16, "epochs": 40})
    result = fit_adapter(text, ids, df, NO_FEEDBACK, config)
    model = result.model
    assert partners_found(model, ids, 20) == 20 and result.losses[-1] < result.losses[0]
    seqs = user_sequences(df, ids)
    users = [u for u in sorted(seqs) if 20 not in seqs[u]][:40]  # users whose history lacks p0's partner
    fb = pd.DataFrame({"user_id": users, "item_id": ["q0"] * len(users), "label": ["down"] * len(users)})
    pushed = fit_adapter(text, ids, df, fb, config).model
    rank_q0 = lambda m: np.mean([(m.item_out @ m.user_vector(seqs[u]) + m.item_bias > (m.item_out[20] @ m.user_vector(
        seqs[u]) + m.item_bias[20])).sum() for u in users])
    assert rank_q0(pushed) > rank_q0(model) + 1  # thumbs-downs sink the item for those users


def test_by_scale_the_text_only_loss_is_on_a_share_of_the_rows_and_tuning_still_learns_the_taste():
    """40 items, 16 sampled columns, 64 rows a step: the text-only loss on ceil(64 x 16 / 40) = 26 rows, reported."""
    df, ids, text = pair_world(n_users=300, pairs=20)
    config = TrainConfig(**{**FAST.to_dict(), "softmax_items": 16, "epochs": 40, "text_loss_rows": -1})
    result = fit_adapter(text, ids, df, NO_FEEDBACK, config)
    assert result.text_rows == 26
    assert partners_found(result.model, ids, 20) == 20
    assert fit_adapter(text, ids, df, NO_FEEDBACK, replace(config, text_loss_rows=0, epochs=1)).text_rows == 0


def test_above_text_softmax_items_the_text_scores_share_the_sampled_columns():
    import torch

    from recsys.model import HistoryModel
    from recsys.softmax import StepItems, step_scores
    rng = np.random.default_rng(0)
    model = HistoryModel(rng.standard_normal((40, 6)).astype(np.float32), np.ones(40, bool), 8, 4, True)
    model.target_counts = np.ones(40)
    target = torch.tensor([0, 1, 2, 3, 39])
    sampled = TrainConfig(softmax_items=16, text_softmax_items=16)
    full, text_only = step_scores(StepItems(model), target, sampled, np.random.default_rng(1))
    assert len(text_only.items) == len(full.items) < 40 and torch.equal(text_only.target, full.target)
    assert torch.equal(text_only.offset, full.offset) and (full.offset <= 0).all()
    full_text = TrainConfig(softmax_items=16, text_softmax_items=40)
    full, text_only = step_scores(StepItems(model), target, full_text, np.random.default_rng(1))
    assert len(full.items) < 40 and len(text_only.items) == 40 and torch.equal(text_only.target, target)
    assert text_only.offset is None


def test_the_no_early_stop_floor_is_capped_at_100_epochs_on_a_tiny_data_set():
    df, ids, text = pair_world()  # under 300 examples: one step per epoch at batch 1024
    events = []
    config = TrainConfig(dim=8, max_history=4, val_users=10, seed=0)  # default floor: 300 steps of 2,048
    result = fit_adapter(text, ids, df, NO_FEEDBACK, config, [events.append])
    totals = {e.total for e in events if e.stage == "train"}
    assert totals == {100} and len(result.losses) <= 100
    bigger = TrainConfig(dim=8, max_history=4, val_users=10, seed=0, batch_size=64)  # 5 steps per epoch
    events.clear()
    fit_adapter(text, ids, df, NO_FEEDBACK, bigger, [events.append])
    assert {e.total for e in events if e.stage == "train"} == {500}


def test_thumbs_down_lowers_the_items_probability_for_those_users_in_the_next_round():
    df, ids, text = pair_world()
    users = [f"u{u}" for u in range(30)]
    fb = pd.DataFrame({"user_id": users, "item_id": ["q0"] * 30, "label": ["down"] * 30})
    seqs = user_sequences(df, ids)

    def mean_p_q0(m) -> float:
        probs = []
        for u in users:
            logits = m.item_out @ m.user_vector(seqs[u]) + m.item_bias
            probs.append(np.exp(logits[4] - logits.max()) / np.exp(logits - logits.max()).sum())
        return float(np.mean(probs))

    plain = fit_adapter(text, ids, df, NO_FEEDBACK, FAST).model
    pushed = fit_adapter(text, ids, df, fb, FAST).model
    assert mean_p_q0(pushed) < 0.5 * mean_p_q0(plain)


@pytest.mark.parametrize("kind", ["history", "attention"])
def test_thumbs_at_feedback_weight_0_leave_the_model_as_without_them(kind):
    df, ids, text = pair_world()
    fb = pd.DataFrame({"user_id": ["u0", "u1"], "item_id": ["q0", "q1"], "label": ["up", "down"]})
    config = TrainConfig(**{**FAST.to_dict(), "kind": kind, "epochs": 3, "feedback_weight": 0.0})
    plain = fit_adapter(text, ids, df, NO_FEEDBACK, config).model
    thumbed = fit_adapter(text, ids, df, fb, config).model
    np.testing.assert_array_equal(thumbed.item_out, plain.item_out)


@pytest.mark.parametrize("kind", ["history", "attention"])
def test_the_same_data_and_seed_give_the_same_weights(kind):
    df, ids, text = pair_world()
    config = TrainConfig(**{**FAST.to_dict(), "kind": kind, "epochs": 3})
    first, second = (fit_adapter(text, ids, df, NO_FEEDBACK, config).model for _ in range(2))
    np.testing.assert_array_equal(first.item_out, second.item_out)
    for name, value in first.attention.items():
        np.testing.assert_array_equal(value, second.attention[name])


def test_cancel_stops_training():
    df, ids, text = pair_world()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        fit_adapter(text, ids, df, NO_FEEDBACK, FAST, cancel=cancel)


def test_nan_loss_fails_with_a_message():
    df, ids, text = pair_world()
    text = text.copy()
    text[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        fit_adapter(text, ids, df, NO_FEEDBACK, FAST)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="invalid training setting: dim, encoder_tuning"):
        TrainConfig(dim=1, encoder_tuning="half")


def test_a_given_positives_rule_is_checked_before_any_work_and_saved_as_numbers():
    assert train_config({"positives": {"unrated": "None", "min_rating": 4}}).positives == {"unrated": None,
                                                                                          "min_rating": 4.0}
    with pytest.raises(RecTuneError, match=r"^positives.unrated: 'zero' is not a number or 'none' \(e.g. 0\).$"):
        train_config({"positives": {"unrated": "zero"}})


def test_a_config_file_written_before_the_renames_means_what_it_meant():
    old = train_config({"min_steps": 40, "check_every_steps": 5, "lr": 0.001})  # steps of the default 1,024 then
    assert (old.min_examples, old.check_every_examples, old.lr, old.attention_lr) == (40_960, 5_120, 0.001, 0.001)
    assert old.batch_size == 2048 and old.step_lr == 0.001
    sized = train_config({"min_steps": 40, "batch_size": 64, "lr": 0.02, "attention_lr": 0.004, "kind": "attention"})
    assert (sized.min_examples, sized.lr, sized.step_lr) == (2_560, 0.02, 0.004)
    assert train_config({}) == TrainConfig()
    with pytest.raises(RecTuneError, match="unknown training setting"):
        train_config({"min_step": 40})


def test_history_dropout_must_be_a_share_below_one():
    with pytest.raises(ValueError, match="invalid training setting: history_dropout"):
        TrainConfig(history_dropout=1.0)
    with pytest.raises(ValueError, match="invalid training setting: weight_decay, history_dropout"):
        TrainConfig(weight_decay=-1, history_dropout=-0.1)


def test_drop_history_hides_slots_as_padding_with_the_given_share():
    history = np.arange(20_000).reshape(1000, 20) % 7
    dropped = drop_history(history, 0.5, pad=9, rng=np.random.default_rng(0))
    hidden = dropped == 9
    assert abs(hidden.mean() - 0.5) < 0.01  # 20,000 draws: the share is within 1 point
    assert (dropped[~hidden] == history[~hidden]).all()  # the rest is untouched
    assert drop_history(history, 0.0, pad=9, rng=np.random.default_rng(0)) is history


def test_saved_configs_from_before_shared_id_parts_load_with_two_separate_tables():
    assert TrainConfig.from_saved({"dim": 64, "kind": "history"}).shared_ids is False
    assert TrainConfig.from_saved(TrainConfig().to_dict()).shared_ids is True
    assert TrainConfig().shared_ids is True


def test_saved_configs_from_before_seen_items_were_masked_load_with_every_item_in_each_softmax():
    assert TrainConfig.from_saved({"dim": 64, "kind": "history"}).mask_seen is False
    assert TrainConfig.from_saved(TrainConfig().to_dict()).mask_seen is True
    assert TrainConfig().mask_seen is True


def test_saved_configs_from_before_history_dropout_load_without_it():
    assert TrainConfig.from_saved({"dim": 64, "kind": "adapter", "encoder_key": "x"}).history_dropout == 0.0
    assert TrainConfig.from_saved(TrainConfig().to_dict()).history_dropout == 0.5


def test_saved_configs_from_before_the_positives_rule_keep_every_interaction_and_the_full_softmax():
    old = TrainConfig.from_saved({"dim": 64, "kind": "adapter"})
    assert old.positives == {"min_rating": None, "event_weights": {}, "unrated": None}  # as trained then
    assert (old.softmax_items, old.kind) == (10**9, "history")
    untuned = TrainConfig.from_saved({"kind": "untuned", "encoder_model": "m"})  # no settings saved: today's
    assert (untuned.positives, untuned.softmax_items, untuned.encoder_model, untuned.kind) == \
        ({}, TrainConfig().softmax_items, "m", "auto")
    new = TrainConfig.from_saved(TrainConfig(positives={"min_rating": 2.2}).to_dict())
    assert new.positives == {"min_rating": 2.2, "event_weights": {}, "unrated": None}
    assert new.softmax_items == TrainConfig().softmax_items


def test_items_never_seen_in_training_keep_text_only_vectors_without_neighbours():
    df, ids, text = pair_world()
    df = df[df["item_id"] != "q3"]
    result = fit_adapter(text, ids, df, NO_FEEDBACK, TrainConfig(**{**FAST.to_dict(), "new_item_neighbours": 0}))
    assert np.allclose(result.model.item_out[7], result.model.out_adapter @ text[7], atol=1e-5)
    assert result.new_items == {"k": 0, "r2": {}, "new_items": 0, "summary": "new items placed by their text alone (off)"}
    auto = fit_adapter(text, ids, df, NO_FEEDBACK, FAST)  # 7 seen items: too few to choose a neighbour count by
    assert auto.new_items["summary"] == "new items placed by their text alone (too few seen items to choose " \
                                        "neighbours by)"


def test_a_never_seen_item_borrows_the_mean_residual_of_its_nearest_seen_items():
    df, ids, text = pair_world()
    df = df[df["item_id"] != "q3"]  # q3 reads "cake" like q0..q2: its 3 nearest seen items, equally near
    result = fit_adapter(text, ids, df, NO_FEEDBACK, TrainConfig(**{**FAST.to_dict(), "new_item_neighbours": 3}))
    m = result.model
    out_res, in_res = m.item_out - text @ m.out_adapter.T, m.item_in - text @ m.in_adapter.T
    assert out_res[7] == pytest.approx(out_res[4:7].mean(axis=0), abs=1e-5)
    assert in_res[7] == pytest.approx(in_res[4:7].mean(axis=0), abs=1e-5)
    assert np.abs(out_res[7]).max() > 0.1  # not the zero it had before
    assert (result.new_items["k"], result.new_items["new_items"]) == (3, 1)


def test_an_item_known_only_from_a_thumbs_down_or_low_ratings_borrows_nothing():
    df, ids, text = pair_world()
    df = df[df["item_id"] != "q3"]
    config = TrainConfig(**{**FAST.to_dict(), "new_item_neighbours": 3})
    down = pd.DataFrame({"user_id": ["u0"], "item_id": ["q3"], "label": ["down"]})
    m = fit_adapter(text, ids, df, down, config).model
    assert np.allclose(m.item_out[7], m.out_adapter @ text[7], atol=1e-5)  # its text alone, as before neighbours
    unliked = _unliked(df.assign(weight=np.where(df["item_id"] == "q2", 0.0, 1.0)), down, ids)
    assert ids[unliked].tolist() == ["q2", "q3"]  # q2: rated, never a positive; q3: only a thumbs-down


def test_versions_saved_before_new_items_borrowed_from_neighbours_load_without_it():
    assert TrainConfig.from_saved({"dim": 64, "kind": "history"}).new_item_neighbours == 0
    assert TrainConfig.from_saved(TrainConfig().to_dict()).new_item_neighbours == -1
    assert TrainConfig.from_saved({"kind": "untuned"}).new_item_neighbours == -1  # no settings saved: today's


def test_user_sequences_follow_time_then_file_row():
    df = pd.DataFrame({"user_id": ["a", "a", "a"], "item_id": ["y", "x", "z"], "timestamp": [2, 2, 1], "row": [0, 1, 2]})
    assert user_sequences(df, np.array(["x", "y", "z"]))["a"].tolist() == [2, 1, 0]


def test_a_race_changes_nothing_until_it_stops_and_then_keeps_the_best_check():
    df, ids, text = pair_world()
    config = TrainConfig(**{**FAST.to_dict(), "val_users": 10, "epochs": 6, "check_every_examples": 1, "patience": 99})
    free = fit_adapter(text, ids, df, NO_FEEDBACK, config)
    assert free.stopped_by == "epochs" and [check.epoch for check in free.curve] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert all(len(check.gains) == 10 and check.ndcg == pytest.approx(np.mean(check.gains)) for check in free.curve)
    behind = tuple(Check(c.epoch, 1.0 + c.epoch, tuple(g + 1.0 + c.epoch for g in c.gains)) for c in free.curve)
    # the rival is ahead throughout, its best at epoch 6: the race stops the model at 2
    raced = fit_adapter(text, ids, df, NO_FEEDBACK, config, rival=behind)
    assert raced.stopped_by == "race"
    assert raced.curve == free.curve[:2]
    assert raced.losses == free.losses[:len(raced.losses)]
    assert raced.best_val_ndcg == max(check.ndcg for check in free.curve[:2])
    ahead = tuple(Check(c.epoch, -1.0, tuple(g - 2.0 for g in c.gains)) for c in free.curve)
    again = fit_adapter(text, ids, df, NO_FEEDBACK, config, rival=ahead)
    assert (again.stopped_by, again.losses, again.curve) == ("epochs", free.losses, free.curve)


def test_an_epoch_longer_than_check_examples_is_checked_within_it():
    df, ids, text = pair_world()  # 5 steps an epoch at batch 64
    config = TrainConfig(**{**FAST.to_dict(), "val_users": 10, "epochs": 3, "check_every_examples": 1, "patience": 99})
    every_epoch = fit_adapter(text, ids, df, NO_FEEDBACK, config)
    assert [check.epoch for check in every_epoch.curve] == [1.0, 2.0, 3.0]
    within = fit_adapter(text, ids, df, NO_FEEDBACK, replace(config, check_examples=128))  # every 2 steps
    assert [check.epoch for check in within.curve] == [0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8, 3.0]
    assert within.losses == every_epoch.losses  # checks read the weights, they do not move them
    state, stopper, _ = _loop_setup(torch.nn.Linear(1, 1), 10_000, 100, {}, [], replace(config, min_examples=1,
                                    average_epochs=0.0, check_examples=1000, epochs=20, batch_size=100), [], None, None)
    assert (stopper.check_every, stopper.min_steps, state.total) == (10, 100, 2000)  # no early stop within a pass
    floors = [_loop_setup(torch.nn.Linear(1, 1), 100_000, rows, {}, [], replace(config, min_examples=50_000,
                                                                               check_every_examples=5_000, batch_size=rows,
                                                                               check_examples=10**9),
                          [], None, None)[1] for rows in (100, 200)]
    assert [(f.min_steps, f.check_every) for f in floors] == [(1000, 1000), (500, 500)]  # the same targets seen
    floors = [_loop_setup(torch.nn.Linear(1, 1), 1_000, rows, {}, [], replace(config, min_examples=50_000,
                                                                             check_every_examples=500, batch_size=rows),
                          [], None, None)[1] for rows in (100, 200)]
    assert [(f.min_steps, f.check_every) for f in floors] == [(500, 10), (250, 5)]
    assert TrainConfig.from_saved(TrainConfig().to_dict()).check_examples == 250_000
    assert TrainConfig.from_saved({"dim": 64}).check_examples == 10**12  # saved before: once per epoch
    steps = TrainConfig.from_saved({"dim": 64, "batch_size": 1024, "lr": 5e-3, "min_steps": 600, "check_every_steps": 50})
    assert (steps.min_examples, steps.check_every_examples, steps.batch_size) == (614_400, 51_200, 1024)  # floors
    assert (TrainConfig().batch_size, TrainConfig().lr, TrainConfig().min_examples) == (2048, 1e-2, 614_400)
    before = TrainConfig.from_saved({"dim": 64, "positives": {"min_rating": 3.7, "event_weights": {}}})
    assert before.positives == {"min_rating": 3.7, "event_weights": {}, "unrated": None}  # every rating on the scale


def test_weight_averaging_leaves_training_as_it_was_and_serves_the_averaged_weights():
    df, ids, text = pair_world()
    raw = fit_adapter(text, ids, df, NO_FEEDBACK, TrainConfig(**{**FAST.to_dict(), "average_epochs": 0.0}))
    averaged = fit_adapter(text, ids, df, NO_FEEDBACK, FAST)  # the default: about an epoch
    assert averaged.losses == raw.losses  # the same steps: the average only reads the weights
    assert not np.allclose(averaged.model.item_out, raw.model.item_out)
    for k in range(4):  # and the averaged model has learned the taste too
        scores = averaged.model.item_out @ averaged.model.user_vector(np.array([k])) + averaged.model.item_bias
        scores[k] = -np.inf
        assert ids[int(np.argmax(scores))] == f"q{k}"


def test_versions_saved_before_weight_averaging_load_without_it():
    assert TrainConfig.from_saved({"dim": 64}).average_epochs == 0.0
    assert TrainConfig.from_saved({}).average_epochs == TrainConfig().average_epochs == 1.0
    with pytest.raises(ValueError, match="average_epochs"):
        TrainConfig(average_epochs=-1)
