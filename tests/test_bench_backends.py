"""The benchmark's backend helpers: leave-last-out split and list NDCG, exact values on a hand-made log."""
from __future__ import annotations

import math

import pandas as pd

from recsys.bench_backends import leave_last_out, list_ndcg


def test_leave_last_out_holds_each_users_latest_row(tmp_path):
    log = tmp_path / "log.csv"
    pd.DataFrame({"user_id": ["a", "a", "b", "b", "b", "01"], "item_id": ["1", "2", "3", "1", "2", "007"],
                  "timestamp": [5, 1, 2, 9, 3, 4]}).to_csv(log, index=False)
    held = leave_last_out(log, tmp_path / "train.csv")
    assert sorted(map(tuple, held.to_numpy().tolist())) == [("01", "007"), ("a", "1"), ("b", "1")]
    train = pd.read_csv(tmp_path / "train.csv", dtype=str)
    assert sorted(zip(train["user_id"], train["item_id"])) == [("a", "2"), ("b", "2"), ("b", "3")]


def test_list_ndcg_scores_each_held_item_by_its_rank():
    held = pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": ["1", "2", "3"]})
    lists = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["1", "9", "8", "2"], "rank": [1, 2, 1, 2]})
    assert list_ndcg(lists, held) == (1.0 + 1 / math.log2(3)) / 3
