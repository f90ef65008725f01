"""Serving semantics with a hand-made model: item vectors are axes, so scores are exact."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.feedback import Feedback, FeedbackLedger
from recsys.recommend import Recommender, label_queue
from recsys.serving import ServingModel

IDS = np.array(["a", "b", "c", "d", "e"], dtype=object)
# a, b: axis 0; c: axis 1; d: half axis 0 + half axis 1; e: axis 2
VECTORS = np.array([[1, 0, 0], [0.9, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [0, 0, 1]], dtype=np.float32)


def model(bias=None) -> ServingModel:
    return ServingModel(IDS, VECTORS, VECTORS, np.zeros(5, np.float32) if bias is None else bias,
                        np.zeros(4, np.float32), np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32))


def interactions() -> pd.DataFrame:
    df = pd.DataFrame({"user_id": ["u1", "u2", "u2"], "item_id": ["a", "c", "e"], "timestamp": [1, 1, 2]})
    return df.assign(row=np.arange(3))


@pytest.fixture
def rec(tmp_path) -> Recommender:
    return Recommender(model(), interactions(), FeedbackLedger(tmp_path / "f.sqlite"), "v0001")


def test_top_k_excludes_history_and_orders_by_score(rec):
    got = [(r.item_id, r.rank, round(r.score, 3)) for r in rec.recommend("u1", k=3)]
    assert got == [("b", 1, 0.9), ("d", 2, 0.5), ("c", 3, 0.0)]


def test_reasons_are_the_history_items_that_pull_the_item_up(rec):
    top = rec.recommend("u2", k=2)
    assert [(r.item_id, r.because) for r in top] == [("d", ("c",)), ("a", ())]


def test_thumbs_down_hides_the_item_at_once(rec):
    rec.ledger.add(Feedback("u1", "b", "down"))
    assert [r.item_id for r in rec.recommend("u1", k=2)] == ["d", "c"]


def test_thumbs_up_shifts_the_list_at_once_without_retraining(rec):
    before = [r.item_id for r in rec.recommend("u1", k=3)]
    rec.ledger.add(Feedback("u1", "e", "up"))
    after = rec.recommend("u1", k=3)
    assert before == ["b", "d", "c"]
    # history is now [a, e] with equal weights: user = (a + e) / 2; e itself is never shown again (liked)
    assert [(r.item_id, round(r.score, 3)) for r in after] == [("b", 0.45), ("d", 0.25), ("c", 0.0)]


def test_a_cleared_thumb_counts_as_none(rec):
    rec.ledger.add(Feedback("u1", "b", "down"))
    rec.ledger.add(Feedback("u1", "b", "cleared"))
    assert [r.item_id for r in rec.recommend("u1", k=3)] == ["b", "d", "c"]
    assert rec.ledger.frame()["label"].tolist() == ["down", "cleared"]  # the history keeps both


def test_an_explanation_never_cites_the_item_itself(rec):
    rec.ledger.add(Feedback("u1", "d", "up"))
    assert all(r.item_id not in r.because for r in rec.recommend("u1", k=3))


def test_candidates_restrict_the_shelf_and_unknown_users_get_a_list(rec):
    assert [r.item_id for r in rec.recommend("u1", k=5, candidates=["c", "e", "zz"])] == ["c", "e"]
    assert [r.item_id for r in rec.recommend("nobody", k=2)] == ["a", "b"]


def test_recency_weights_favour_the_latest_item():
    m = model()
    m = ServingModel(IDS, VECTORS, VECTORS, m.item_bias, np.array([0.0, np.log(3.0)], np.float32),
                     m.in_adapter, m.out_adapter)
    assert m.history_weights(2) == pytest.approx([0.25, 0.75])
    assert m.user_vector(np.array([2, 0])) == pytest.approx([0.75, 0.25, 0])


def test_label_queue_serves_unlabelled_active_users_first(rec):
    assert label_queue(rec) == ["u2", "u1"]
    rec.ledger.add(Feedback("u2", "a", "up"))
    assert label_queue(rec) == ["u1", "u2"]


def test_model_round_trips_through_safetensors(tmp_path):
    m = model(bias=np.arange(5, dtype=np.float32))
    m.save(tmp_path)
    loaded = ServingModel.load(tmp_path)
    assert loaded.item_ids.tolist() == IDS.tolist()
    assert np.array_equal(loaded.item_bias, m.item_bias) and np.array_equal(loaded.item_out, VECTORS)
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_a_loaded_model_maps_its_file_read_only_with_the_same_values_as_safetensors_reads(tmp_path):
    from safetensors.numpy import load_file
    m = model(bias=np.arange(5, dtype=np.float32))
    m.save(tmp_path)
    loaded, read = ServingModel.load(tmp_path), load_file(str(tmp_path / "weights.safetensors"))
    for name, array in read.items():
        mapped = getattr(loaded, name)
        assert mapped.dtype == array.dtype and np.array_equal(mapped, array)
        assert isinstance(mapped.base, np.memmap) and not mapped.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        loaded.item_out[0, 0] = 1.0  # a version on disk is never changed through its serving arrays
    copied = ServingModel.load(tmp_path, mapped=False)  # for a folder about to be removed (a Ray checkpoint's)
    assert not isinstance(copied.item_out.base, np.memmap) and np.array_equal(copied.item_out, read["item_out"])
    assert [r.item_id for r in Recommender(loaded, interactions()).recommend("u1", 3)] == \
        [r.item_id for r in Recommender(m, interactions()).recommend("u1", 3)]


def test_each_pick_is_explained_by_the_history_items_specific_to_it_not_one_that_pulls_all_alike():
    # history: g (pulls x and y alike, strongly), hx (pulls x only), hy (pulls y only); equal recency weights
    ids = np.array(["g", "hx", "hy", "x", "y"], dtype=object)
    vin = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=np.float32)
    vout = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0.9, 0.5, 0], [0.9, 0, 0.4]], dtype=np.float32)
    served = ServingModel(ids, vin, vout, np.zeros(5, np.float32), np.zeros(3, np.float32),
                          np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32))
    log = pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["g", "hx", "hy"], "timestamp": [1, 2, 3], "row": [0, 1, 2]})
    picks = Recommender(served, log).recommend("u", k=2, explain=1)
    assert [(r.item_id, r.because) for r in picks] == [("x", ("hx",)), ("y", ("hy",))]
    assert Recommender(served, log).explain(np.array([0, 1, 2]), 3, 1) == ("g",)  # alone, the strongest pull


def test_rank_of_says_where_a_hidden_last_interaction_would_rank(rec):
    # u2's history is c then e: with e hidden the user vector is c's axis: d scores 0.5, a, b and e 0
    assert [r.item_id for r in rec.recommend("u2", k=2, hide_last=True)] == ["d", "a"]
    assert rec.rank_of("u2", "e", hide_last=True) == 2  # only d scores above it (ties do not count against it)
    assert rec.rank_of("u2", "zz") is None
