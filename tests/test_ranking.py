from __future__ import annotations

import numpy as np

from recsys.ranking import mask_scores, rank, seen_cells, target_ranks, top_k


def test_top_k_breaks_ties_towards_the_lower_index_as_the_referee_does():
    assert top_k(np.array([[1.0, 3.0, 3.0, 2.0]]), 3).tolist() == [[1, 2, 3]]


def test_top_k_with_a_partition_first_gives_the_same_order_on_wide_rows():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 50, size=(3, 60_000)).astype(float)  # many ties
    assert top_k(scores, 10).tolist() == np.argsort(-scores, axis=1, kind="stable")[:, :10].tolist()


def test_rank_masks_seen_items_and_the_shelf_and_never_returns_minus_inf():
    scores = np.array([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    seen = seen_cells([np.array([0]), np.array([3, -1])])  # -1: an item the model does not know
    allowed = np.array([True, True, True, False])
    assert [r.tolist() for r in rank(scores, 3, exclude=seen, allowed=allowed)] == [[1, 2], [2, 1, 0]]
    assert mask_scores(scores, seen).tolist()[1] == [1.0, 2.0, 3.0, -np.inf]


def test_position_of_counts_only_visible_items_scoring_strictly_higher():
    from recsys.ranking import position_of
    scores = np.array([0.9, 0.5, 0.7, 0.5, 0.1])
    assert position_of(scores, 1, np.array([], dtype=np.int64)) == 3  # 0.9, 0.7 above; the tie at 3 does not count
    assert position_of(scores, 1, np.array([0, 1])) == 2  # 0 hidden; hiding the item itself changes nothing
    assert position_of(scores, 0, np.array([2])) == 1


def test_target_ranks_are_where_rank_puts_the_target_ties_and_masks_included():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, (300, 40)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.05] = -np.inf  # items that can never be shown
    targets = rng.integers(0, 40, 300)
    seen = seen_cells([rng.choice(40, 5, replace=False) for _ in range(300)])
    ranks = target_ranks(scores, targets, exclude=seen)
    lists = rank(scores, 40, exclude=seen)
    expected = [int(np.flatnonzero(ranked == t)[0]) if t in ranked else -1 for ranked, t in zip(lists, targets)]
    assert ranks.tolist() == expected
    assert (ranks == -1).sum() > 10 and (ranks == 0).sum() > 5 and ranks.max() > 20  # every case occurs


def test_a_target_that_is_no_item_has_no_rank():
    scores = np.array([[0.5, 0.2, 0.9], [0.1, 0.3, 0.2]], dtype=np.float32)
    assert target_ranks(scores, np.array([-1, 1])).tolist() == [-1, 0]
