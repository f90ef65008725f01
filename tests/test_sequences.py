from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.sequences import (
    Examples,
    UserLog,
    as_windows,
    build_training_examples,
    build_windows,
    dislike_examples,
    user_sequences,
    user_values,
)

PAD = 99


def test_windows_are_cut_from_the_end_of_each_sequence_with_the_next_item_as_target():
    ex = build_windows({"a": np.array([0, 1, 2, 3, 4]), "b": np.array([5, 6])}, max_history=3, n_items=9)
    assert ex.history.tolist() == [[1, 2, 3], [9, 9, 0], [9, 9, 5]]
    assert ex.target.tolist() == [[2, 3, 4], [9, 9, 1], [9, 9, 6]]
    assert ex.weight.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 1]]
    assert ex.history.dtype == ex.target.dtype == np.int64
    assert ex.weight.dtype == np.float32


def numbered(lengths: list[int]) -> dict[str, np.ndarray]:
    """Each interaction its own item index (users' runs follow each other), so a target names its position."""
    bounds = np.cumsum([0] + lengths)
    return {f"u{k}": np.arange(a, b) for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))}


@pytest.mark.parametrize("max_history", [1, 2, 3, 5, 8])
def test_every_interaction_after_a_users_first_is_a_target_exactly_once(max_history):
    seqs = numbered([1, 2, 3, 5, 6, 11])
    ex = build_windows(seqs, max_history, PAD)
    real = ex.target != PAD
    expected = sorted(int(i) for s in seqs.values() for i in s[1:])
    assert sorted(ex.target[real].tolist()) == expected
    assert (ex.history[real] == ex.target[real] - 1).all()  # each step's input is the item just before its target
    assert (ex.weight[real] == 1).all() and (ex.weight[~real] == 0).all()
    assert (ex.history[~real] == PAD).all()


def test_a_held_out_users_last_item_is_neither_a_target_nor_an_input():
    seqs = numbered([4, 3, 2])  # u0: 0..3, u1: 4..6, u2: 7..8
    ex = build_windows(seqs, 2, PAD, skip_last={"u1", "u2"})
    targets = sorted(ex.target[ex.target != PAD].tolist())
    assert targets == [1, 2, 3, 5]
    assert 6 not in ex.history and 8 not in ex.history
    assert 3 not in ex.history  # u0's last item is only ever a target: nothing follows it
    held_alone = build_windows({"a": np.array([4, 5])}, 3, PAD, skip_last={"a"})
    assert held_alone.target.shape == (0, 3)


def test_weights_follow_their_interaction_and_survive_the_held_out_cut():
    seqs = {"a": np.array([0, 1, 2, 3]), "b": np.array([4, 5, 6])}
    weights = {"a": np.array([1.0, 3.0, 0.0, 2.0], np.float32), "b": np.array([1.0, 2.0, 5.0], np.float32)}
    ex = build_windows(seqs, 4, PAD, skip_last={"b"}, weights=weights)
    assert ex.target.tolist() == [[PAD, 1, PAD, 3], [PAD, PAD, PAD, 5]]  # weight 0: not a positive, no target
    assert ex.weight.tolist() == [[0, 3, 0, 2], [0, 0, 0, 2]]
    assert ex.history.tolist() == [[PAD, 0, 1, 2], [PAD, PAD, PAD, 4]]  # the weight-0 item 2 is still an input


def test_a_weight_0_interaction_is_no_target_in_the_windows():
    seqs = {"a": np.array([0, 1, 2, 3])}
    ex = build_windows(seqs, 4, PAD, weights={"a": np.array([1, 1, 0, 1], np.float32)})
    assert ex.target.tolist() == [[PAD, 1, PAD, 3]]


def test_a_negative_weight_marks_a_disliked_target_and_a_window_without_targets_is_dropped():
    seqs = {"a": np.array([0, 1, 2]), "b": np.array([4, 5])}
    ex = build_windows(seqs, 3, PAD, weights={"a": np.array([1, -1, 2], np.float32), "b": np.array([1, 0], np.float32)})
    assert ex.target.tolist() == [[PAD, 1, 2]]
    assert ex.weight.tolist() == [[0, -1, 2]]


def test_the_window_and_the_one_target_examples_agree_on_targets_and_weights():
    seqs = numbered([3, 6, 1, 4])
    weights = {u: (s % 3).astype(np.float32) for u, s in seqs.items()}  # some interactions weigh 0
    flat = build_training_examples(seqs, 4, PAD, skip_last={"u1"}, weights=weights)
    win = build_windows(seqs, 4, PAD, skip_last={"u1"}, weights=weights)
    positive = win.weight > 0
    assert sorted(zip(win.target[positive].tolist(), win.weight[positive].tolist())) == \
        sorted(zip(flat.target.tolist(), flat.weight.tolist()))


def test_one_target_examples_become_windows_with_the_target_at_the_last_step():
    ex = as_windows(Examples(np.array([[PAD, 3, 4]]), np.array([7]), np.array([2.0], np.float32)), PAD)
    assert ex.history.tolist() == [[PAD, 3, 4]]
    assert ex.target.tolist() == [[PAD, PAD, 7]]
    assert ex.weight.tolist() == [[0, 0, 2]]


def test_dislike_examples_pair_each_disliked_interaction_with_the_items_before_it():
    seqs = {"a": np.array([0, 1, 2, 3]), "b": np.array([4, 5]), "c": np.array([6, 7])}
    disliked = {"a": np.array([False, False, True, True]), "b": np.array([True, False]), "c": np.array([False, False])}
    ex = dislike_examples(seqs, disliked, max_history=2, n_items=PAD)
    assert ex.history.tolist() == [[0, 1], [1, 2], [PAD, PAD]]
    assert ex.target.tolist() == [2, 3, 4]
    assert ex.weight.tolist() == [1.0, 1.0, 1.0]


def test_no_dislikes_give_empty_examples_of_the_window_width():
    ex = dislike_examples({"a": np.array([0, 1])}, {"a": np.array([False, False])}, max_history=3, n_items=PAD)
    assert ex.history.shape == (0, 3)
    assert ex.target.shape == ex.weight.shape == (0,)


def test_user_values_follow_the_order_of_user_sequences():
    train = pd.DataFrame({"user_id": ["b", "a", "b", "a", "a"], "item_id": ["x", "y", "z", "x", "z"],
                          "timestamp": [5, 2, 1, 2, 1], "row": [0, 1, 2, 3, 4],
                          "weight": [0.5, 1.0, 2.0, 3.0, 4.0]})
    values = user_values(train, "weight")
    assert list(values) == ["a", "b"]
    assert values["a"].tolist() == [4.0, 1.0, 3.0]  # time, then file row for the tie at t=2
    assert values["b"].tolist() == [2.0, 0.5]
    items = user_values(train, "item_id")
    ids = np.array(["x", "y", "z"])
    for user, seq in user_sequences(train, ids).items():
        assert ids[seq].tolist() == items[user].tolist()


def test_a_user_log_cuts_sequences_over_any_catalog_in_time_then_file_row_order(tmp_path):
    log = pd.DataFrame({"user_id": ["b", "a", "b", "a", "b"], "item_id": ["x", "y", "z", "x", "x"],
                        "timestamp": [5, 1, 5, 2, 1], "row": [0, 1, 2, 3, 4]})
    user_log = UserLog.of(log)
    assert user_log.users.tolist() == ["a", "b"] and user_log.bounds.tolist() == [0, 2, 5]
    catalog = np.array(["z", "x", "y"])
    seqs = user_log.sequences(catalog)
    assert {u: s.tolist() for u, s in seqs.items()} == {"a": [2, 1], "b": [1, 1, 0]}  # b: t1 x, then rows 0 and 2
    assert user_log.sequences(np.array(["x"]))["a"].tolist() == [-1, 0]  # an item that catalog lacks
    user_log.save(tmp_path / "log.npz")
    again = UserLog.load(tmp_path / "log.npz").sequences(catalog)
    assert {u: s.tolist() for u, s in again.items()} == {u: s.tolist() for u, s in seqs.items()}
    assert user_sequences(log, catalog).keys() == seqs.keys()
    assert UserLog.of(log.iloc[:0]).sequences(catalog) == {}
    numbered = UserLog.of(log.assign(user_id=[2, 1, 2, 1, 2])).sequences(catalog)  # ids keep their type, as
    assert numbered.keys() == user_values(log.assign(user_id=[2, 1, 2, 1, 2]), "row").keys() == {1, 2}  # values
