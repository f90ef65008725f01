"""Two versions side by side, with hand-made models whose scores are exact."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.list_compare import compare_lists
from recsys.recommend import Recommender
from recsys.serving import ServingModel

IDS = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)


def served(bias: list[float]) -> ServingModel:
    """Every item on one axis, so a user's scores are the biases (+1 each): the bias sets the order."""
    vectors = np.ones((6, 1), dtype=np.float32)
    return ServingModel(IDS, vectors, vectors, np.array(bias, np.float32), np.zeros(3, np.float32),
                        np.eye(1, dtype=np.float32), np.eye(1, dtype=np.float32))


LOG = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "e"], "timestamp": [1, 2], "row": [0, 1]})


def recs() -> tuple[Recommender, Recommender]:
    # a and e are history; left: b c d e f; right: c e f b d (e shows only when it is hidden from the history)
    return (Recommender(served([0, 3, 2, 1, 0.5, 0]), LOG, version="v0001"),
            Recommender(served([0, 1, 3, 0, 2.5, 2]), LOG, version="v0002"))


def test_the_right_list_is_marked_by_how_each_item_moved_from_the_left_one():
    cmp = compare_lists(*recs(), "u", k=2)
    assert [(r.pick.item_id, r.change) for r in cmp.left_rows] == [("b", "dropped"), ("c", "kept")]
    assert [(r.pick.item_id, r.change) for r in cmp.right_rows] == [("c", "up 1"), ("f", "new")]
    assert cmp.shared == 1 and cmp.next_item is None and cmp.next_sentence("x") == ""


def test_new_and_dropped_items_are_named():
    cmp = compare_lists(*recs(), "u", k=3)
    assert [(r.pick.item_id, r.change) for r in cmp.left_rows] == [("b", "kept"), ("c", "kept"), ("d", "dropped")]
    assert [(r.pick.item_id, r.change) for r in cmp.right_rows] == [("c", "up 1"), ("f", "new"), ("b", "down 2")]
    assert cmp.shared == 2


def test_hiding_the_last_interaction_says_where_each_model_ranks_the_next_choice():
    cmp = compare_lists(*recs(), "u", k=2, hide_last=True)
    assert cmp.next_item == "e"
    assert cmp.next_ranks == (4, 2)  # left: b, c, d score above it; right: c does
    assert [r.pick.item_id for r in cmp.right_rows] == ["c", "e"]  # e is no longer history, so it is listed
    assert cmp.next_sentence("Sea Ship") == "Their next choice, Sea Ship: v0002 ranks it 2nd, v0001 4th."
