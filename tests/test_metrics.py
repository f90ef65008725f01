from __future__ import annotations

import numpy as np
import pytest

from recsys.metrics import Metrics, ndcg_gains, ranking_metrics, target_positions


def test_positions_of_targets_in_their_lists():
    assert target_positions([["a", "b"], ["c"], []], ["b", "x", "a"]).tolist() == [1, -1, -1]


def test_hr_ndcg_mrr_at_k_by_hand():
    # hits at 0 and 2, a miss, and a hit at 12 that k=10 does not count
    m = ranking_metrics(np.array([0, 2, -1, 12]), k=10, coverage=0.5)
    assert m == Metrics(hr=0.5, ndcg=pytest.approx((1 + 1 / np.log2(4)) / 4), mrr=pytest.approx((1 + 1 / 3) / 4),
                        coverage=0.5, users=4, k=10)
    assert ndcg_gains(np.array([1]), 10).tolist() == [pytest.approx(1 / np.log2(3))]
