"""The map builder on a tiny workspace with the fake encoder: exact sizes, users placed, alignment."""
from __future__ import annotations

import numpy as np

from recsys.maps import build_map


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
