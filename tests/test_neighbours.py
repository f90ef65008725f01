import numpy as np
import pytest

from recsys.neighbours import TEMPERATURE, leave_one_out_r2, neighbour_mean, place_new_items
from recsys.serving import ServingModel


def test_the_mean_weights_the_nearest_items_by_softmax_of_their_similarity():
    pool = np.eye(3, dtype=np.float32)
    values = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], dtype=np.float32)
    query = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)  # similarities 0.8, 0.6, 0
    near = np.exp(-0.2 / TEMPERATURE)
    assert neighbour_mean(query, pool, values, 1).tolist() == [[1.0, 0.0]]
    assert neighbour_mean(query, pool, values, 2)[0] == pytest.approx([1 / (1 + near), near / (1 + near)], abs=1e-6)
    assert neighbour_mean(query, pool, values, 0).tolist() == [[0.0, 0.0]]


def clustered(n_per: int = 40, seed: int = 0):
    """Two tight clusters of texts (centres at cosine 0.8); an item's residual is its cluster's vector plus a little
    noise."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0, 0, 0], [0.8, 0.6, 0, 0]], dtype=np.float32)
    cluster = np.repeat([0, 1], n_per)
    text = centres[cluster] + 0.05 * rng.normal(size=(2 * n_per, 4)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    residual = np.array([[3.0, 0], [0, 3.0]], dtype=np.float32)[cluster] + 0.1 * rng.normal(size=(2 * n_per, 2))
    return text, residual.astype(np.float32), cluster


def served(text: np.ndarray, residual: np.ndarray, in_residual: np.ndarray | None = None) -> ServingModel:
    n, text_dim = text.shape
    adapter = np.zeros((2, text_dim), np.float32)
    adapter[0, 2] = 1.0  # the adapters read a text dimension the clusters do not use
    in_residual = residual if in_residual is None else in_residual
    return ServingModel(item_ids=np.array([f"i{i}" for i in range(n)], dtype=object),
                        item_in=text @ adapter.T + in_residual, item_out=text @ adapter.T + residual,
                        item_bias=np.zeros(n, np.float32), position_logits=np.zeros(3, np.float32),
                        in_adapter=adapter, out_adapter=adapter)


def test_leave_one_out_finds_residuals_that_follow_the_text_and_none_that_do_not():
    text, residual, _ = clustered()
    r2 = leave_one_out_r2(text, residual, np.random.default_rng(0))
    assert sorted(r2) == [10, 20, 50]  # counts below the pool's size
    assert r2[10] > 0.95 and r2[20] > 0.95  # each estimate from its own cluster
    assert r2[50] < r2[20]  # 50 neighbours must reach into the other cluster
    noise = np.random.default_rng(1).normal(size=residual.shape).astype(np.float32)  # unrelated to the text
    assert max(leave_one_out_r2(text, noise, np.random.default_rng(0)).values()) <= 0


def test_new_items_take_their_neighbours_residual_and_seen_items_keep_theirs():
    text, residual, cluster = clustered()
    new = np.zeros(len(text), dtype=bool)
    new[[0, 45]] = True  # one new item in each cluster: no learned residual yet
    residual[new] = 0.0
    model = served(text, residual)
    placed, fit = place_new_items(model, text, ~new, new, new, np.ones(len(text)))
    assert fit.k in (10, 20) and fit.new_items == 2
    assert fit.summary.startswith(f"2 new items placed by their text plus what their {fit.k} nearest seen items")
    base = text @ model.out_adapter.T
    assert placed.item_out[0] - base[0] == pytest.approx([3.0, 0.0], abs=0.1)
    assert placed.item_out[45] - base[45] == pytest.approx([0.0, 3.0], abs=0.1)
    assert placed.item_in[new].tolist() == placed.item_out[new].tolist()
    assert placed.item_out[~new].tolist() == model.item_out[~new].tolist()
    assert model.item_out[0] - base[0] == pytest.approx([0.0, 0.0])  # the input model is not changed


def test_in_and_out_residuals_are_placed_for_their_own_new_items_from_trained_items_only():
    text, residual, _ = clustered()
    in_residual = -2.0 * residual  # the in side learned something else: a swap of the two halves would show
    new_out, new_in = np.zeros(len(text), bool), np.zeros(len(text), bool)
    new_out[0], new_in[1] = True, True  # item 0 never a target; item 1 in no history (a thumbs-up only item)
    residual[0], in_residual[1] = 0.0, 0.0  # what training left them: no learned residual on that side
    trained = ~(new_out | new_in)
    trained[2] = False  # an item known but never liked: not a neighbour, and not placed either
    model = served(text, residual, in_residual)
    placed, fit = place_new_items(model, text, trained, new_out, new_in, np.ones(len(text)), k=10)
    base = text @ model.out_adapter.T
    assert fit.k == 10 and fit.r2 == {} and fit.new_items == 2
    assert placed.item_out[0] - base[0] == pytest.approx([3.0, 0.0], abs=0.1)  # its cluster's out residual
    assert placed.item_in[1] - base[1] == pytest.approx([-6.0, 0.0], abs=0.2)  # its cluster's in residual
    assert placed.item_in[0].tolist() == model.item_in[0].tolist()
    assert placed.item_out[1].tolist() == model.item_out[1].tolist()
    assert placed.item_out[2].tolist() == model.item_out[2].tolist()


def test_no_neighbours_when_off_when_nothing_is_new_or_when_the_text_predicts_nothing():
    text, residual, _ = clustered()
    model, new, none = served(text, residual), np.eye(len(text), dtype=bool)[0], np.zeros(len(text), bool)
    for args, why in [((new, new, 0), "off"), ((none, none, -1), "no new items")]:
        same, fit = place_new_items(model, text, ~(args[0] | args[1]), args[0], args[1], np.ones(len(text)), k=args[2])
        assert same is model and fit.k == 0 and fit.summary.endswith(f"({why})")
    noise = served(text, np.random.default_rng(1).normal(size=residual.shape).astype(np.float32))
    same, fit = place_new_items(noise, text, ~new, new, new, np.ones(len(text)))
    assert same is noise and fit.k == 0 and set(fit.r2) == {10, 20, 50}
    assert "text neighbours do not predict" in fit.summary
