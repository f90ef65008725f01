from __future__ import annotations

import numpy as np

from recsys.spectrum import item_spectrum

ITEMS = 11  # items 0-4 read by one group of users, 5-9 by the other, 10 by nobody (unless a test says so)


def two_groups(extra: dict[str, list[int]] | None = None):
    sequences = {f"a{u}": np.array([0, 1, 2, 3, 4]) for u in range(4)}
    sequences.update({f"b{u}": np.array([5, 6, 7, 8, 9]) for u in range(4)})
    sequences.update({u: np.array(items) for u, items in (extra or {}).items()})
    weights = {u: np.ones(len(s), np.float32) for u, s in sequences.items()}
    return sequences, weights


def test_items_read_by_the_same_users_share_their_features_and_other_groups_are_orthogonal():
    sequences, weights = two_groups()
    features = item_spectrum(sequences, weights, [], ITEMS, 2)
    assert features.shape == (ITEMS, 2) and features.dtype == np.float32
    np.testing.assert_allclose(features[1:5], np.repeat(features[:1], 4, axis=0), atol=1e-5)
    np.testing.assert_allclose(features[6:10], np.repeat(features[5:6], 4, axis=0), atol=1e-5)
    assert abs(float(features[0] @ features[5])) < 1e-5
    np.testing.assert_allclose(np.linalg.norm(features[:10], axis=1).mean(), 1.0, rtol=1e-5)  # used rows: length 1
    assert not features[10].any()  # no interactions: no features (a new item is placed by its text)


def test_a_held_out_last_item_and_items_that_are_not_positives_stay_out():
    sequences, weights = two_groups({"c": [0, 1, 10]})
    assert item_spectrum(sequences, weights, [], ITEMS, 2)[10].any()
    assert not item_spectrum(sequences, weights, ["c"], ITEMS, 2)[10].any()  # validation's held-out item
    weights["c"] = np.array([1.0, 1.0, 0.0], np.float32)  # a low rating: not a positive
    assert not item_spectrum(sequences, weights, [], ITEMS, 2)[10].any()
    sequences["c"] = np.array([0, -1, 10])  # -1: an item the catalog lacks, left out
    weights["c"] = np.ones(3, np.float32)
    with_unknown = item_spectrum(sequences, weights, [], ITEMS, 2)
    sequences["c"] = np.array([0, 10])
    np.testing.assert_array_equal(with_unknown, item_spectrum(sequences, weights | {"c": np.ones(2)}, [], ITEMS, 2))


def test_the_same_log_gives_the_same_features_bit_for_bit():
    rng = np.random.default_rng(3)
    sequences = {f"u{u}": rng.choice(200, size=int(rng.integers(3, 30)), replace=False) for u in range(80)}
    weights = {u: np.ones(len(s), np.float32) for u, s in sequences.items()}
    first = item_spectrum(sequences, weights, ["u1", "u7"], 200, 16)
    assert first.shape == (200, 16) and np.array_equal(first, item_spectrum(sequences, weights, ["u1", "u7"], 200, 16))


def test_the_rank_is_capped_by_the_log_and_a_tiny_log_has_none():
    sequences, weights = two_groups()
    assert item_spectrum(sequences, weights, [], ITEMS, 50).shape == (ITEMS, 7)  # 8 users: at most 7
    assert item_spectrum({"a": np.array([3])}, {"a": np.ones(1)}, [], ITEMS, 8) is None


def test_a_round_starts_its_id_vectors_at_the_spectrum_only_when_asked_and_never_wider_than_the_space():
    from recsys.config import TrainConfig
    from recsys.trainer import _id_start
    sequences, weights = two_groups()
    assert _id_start(sequences, weights, [], ITEMS, TrainConfig(spectral_rank=4, dim=2)).shape == (ITEMS, 2)
    assert _id_start(sequences, weights, [], ITEMS, TrainConfig(spectral_rank=4)).shape == (ITEMS, 4)
    np.testing.assert_array_equal(_id_start(sequences, weights, ["a0"], ITEMS, TrainConfig(spectral_rank=4)),
                                  item_spectrum(sequences, weights, ["a0"], ITEMS, 4))
    assert _id_start(sequences, weights, [], ITEMS, TrainConfig(spectral_rank=0)) is None
    assert _id_start(sequences, weights, [], ITEMS, TrainConfig(use_item_ids=False)) is None  # no ID vectors
