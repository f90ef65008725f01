"""The map builder on a tiny workspace with the fake encoder: exact sizes, users placed, alignment."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.errors import RecTuneError
from recsys.maps import build_map, map_sample


def test_a_pca_map_places_every_item_and_the_users(tiny_service):
    data = build_map(tiny_service.ws, "v0001", "tuned", "pca", extra_users=("u4",))
    assert sorted(data.items["item_id"]) == ["i1", "i2", "i3", "i4", "i5", "i6"]
    assert list(data.items.columns) == ["item_id", "title", "category", "popularity", "x", "y"]
    assert sorted(data.users["user_id"]) == ["u1", "u2", "u3", "u4"]
    assert data.items.set_index("item_id").loc["i1", "popularity"] == 3


def test_the_text_space_of_the_untuned_version_is_its_served_space(tiny_service):
    tuned = build_map(tiny_service.ws, "v0001", "tuned", "pca")  # the untuned version serves the text vectors
    text = build_map(tiny_service.ws, "v0001", "text", "pca")
    assert np.allclose(tuned.items[["x", "y"]], text.items[["x", "y"]])
    assert np.allclose(tuned.users[["x", "y"]], text.users[["x", "y"]])


def test_aligning_a_map_onto_a_rotated_copy_of_itself_lands_on_it(tiny_service):
    base = build_map(tiny_service.ws, "v0001", "tuned", "pca").items[["x", "y"]].to_numpy()
    turned = base @ np.array([[0.0, -1.0], [1.0, 0.0]]) * 2 + 5
    aligned = build_map(tiny_service.ws, "v0001", "tuned", "pca", align_to=turned).items[["x", "y"]].to_numpy()
    assert np.allclose(aligned, turned, atol=1e-5)


def test_a_large_catalog_is_sampled_with_the_chosen_users_items_always_drawn(tiny_service):
    full = build_map(tiny_service.ws, "v0001", "tuned", "pca")
    assert not full.sampled and full.total_items == 6
    data = build_map(tiny_service.ws, "v0001", "tuned", "pca", keep_items=("i6", "i5", "nope"), max_items=4)
    assert data.sampled and data.total_items == 6 and len(data.items) == 4
    assert {"i5", "i6"} <= set(data.items["item_id"])
    other = build_map(tiny_service.ws, "v0001", "text", "pca", keep_items=("i6", "i5", "nope"), max_items=4)
    assert other.items["item_id"].tolist() == data.items["item_id"].tolist()  # before and after draw the same items
    assert data.items.set_index("item_id").loc["i5", "title"] == full.items.set_index("item_id").loc["i5", "title"]


def test_the_sample_is_fixed_and_keeps_at_most_half_the_room_for_kept_items():
    ids = np.array([f"i{i:03d}" for i in range(100)], dtype=object)
    rows = map_sample(ids, keep=tuple(ids[:30]), limit=20)
    assert len(rows) == 20 and np.isin(np.arange(10), rows).all() and rows.tolist() == sorted(rows.tolist())
    assert map_sample(ids, keep=tuple(ids[:30]), limit=20).tolist() == rows.tolist()
    assert map_sample(ids, limit=200).tolist() == list(range(100))


def test_aligning_onto_another_maps_frame_pairs_items_by_id_whatever_their_order(tiny_service):
    base = build_map(tiny_service.ws, "v0001", "tuned", "pca").items
    turned = base.assign(x=-base["y"] * 2 + 5, y=base["x"] * 2 - 1).iloc[::-1]  # rows in another order
    aligned = build_map(tiny_service.ws, "v0001", "tuned", "pca", align_to=turned[["item_id", "x", "y"]]).items
    want = turned.set_index("item_id").loc[aligned["item_id"], ["x", "y"]].to_numpy()
    assert np.allclose(aligned[["x", "y"]].to_numpy(), want, atol=1e-5)
    with pytest.raises(RecTuneError, match="share too few items"):
        build_map(tiny_service.ws, "v0001", "tuned", "pca", align_to=turned.assign(item_id="other")[["item_id", "x", "y"]])


def test_explores_maps_are_drawn_once_per_choice_and_the_warm_up_draws_the_default_view(tiny_service):
    from recsys.maps import NOTHING, UNTUNED
    from recsys.service import Service
    user = tiny_service.recommender().users()[0]
    marked, maps = tiny_service.explore_maps("v0001", UNTUNED, "pca", user)
    assert [label for label, _ in maps] == ["before: untuned text embeddings", "after: v0001"]
    assert marked["user"] == [user] and marked["last item"] == [tiny_service.recommender().item_ids[
        tiny_service.recommender().history(user)[-1]]]
    assert tiny_service.explore_maps("v0001", UNTUNED, "pca", user)[1] is maps  # drawn once
    assert [label for label, _ in tiny_service.explore_maps("v0001", NOTHING, "pca", user)[1]] == ["after: v0001"]
    fresh = Service(tiny_service.ws.root, tiny_service.encoder_factory, create=False)
    fresh.warm_up()
    assert [key[1:5] for key in fresh._maps] == [("v0001", UNTUNED, "pca", user)]  # Explore's default choice
