from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.protocols import cold_items, cold_split, score_lists, warm_split
from recsys.ranking import top_k


def log(rows):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return df.assign(row=np.arange(len(df)), rating=np.nan, event="")


def test_warm_split_holds_out_the_last_item_by_time_then_file_row():
    df = log([("a", "1", 1), ("a", "2", 3), ("a", "3", 3), ("b", "1", 1), ("b", "2", 2)])
    split = warm_split(df)
    assert split.test.values.tolist() == [["a", "3"]]  # tie at t=3: the later row is last; b has only 2
    assert split.train["item_id"].tolist() == ["1", "2", "1", "2"]


def test_warm_split_with_a_positives_mask_holds_out_the_last_positive_and_drops_what_came_after():
    df = log([("a", "w", 1), ("a", "x", 2), ("a", "y", 3), ("a", "z", 4), ("b", "p", 1), ("b", "q", 2), ("b", "r", 3)])
    split = warm_split(df, positive=np.array([1, 1, 1, 0, 1, 1, 1], bool))  # a's last one (z) is disliked
    assert split.test.values.tolist() == [["a", "y"], ["b", "r"]]
    assert split.train[["user_id", "item_id"]].values.tolist() == [["a", "w"], ["a", "x"], ["b", "p"], ["b", "q"]]


def test_cold_split_hides_every_interaction_with_cold_items():
    df = log([(u, str(i), i) for u in "abc" for i in range(20)])
    split = cold_split(df)
    cold = set(cold_items(df))
    assert len(cold) == 3 and not split.train["item_id"].isin(cold).any()
    assert set(split.test["item_id"]) <= cold and split.candidates == tuple(sorted(cold))


def test_metrics_match_hand_computation():
    test = pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": ["x", "y", "z"]})
    lists = {"a": ["x", "q"], "b": ["q", "r", "y"], "c": ["q"]}
    m = score_lists(test, lists, k=10, n_items=10)
    assert m.hr == pytest.approx(2 / 3)
    assert m.ndcg == pytest.approx((1 + 1 / np.log2(4)) / 3)
    assert m.mrr == pytest.approx((1 + 1 / 3) / 3)
    assert m.coverage == pytest.approx(4 / 10)


def test_top_k_breaks_ties_towards_the_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 2.0]])
    assert top_k(scores, 3).tolist() == [[1, 2, 3]]
    big = np.zeros((1, 60_000))
    big[0, [7, 59_999, 30]] = [5, 5, 4]
    assert top_k(big, 3).tolist() == [[7, 59_999, 30]]
