from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.demo import SEED, make_catalog, make_demo
from tests.conftest import ROOT


def test_demo_data_is_seeded_and_large_enough():
    events, items = make_demo()
    again, _ = make_demo()
    assert events.equals(again)
    assert len(items) >= 1500 and events["user_id"].nunique() >= 600 and len(events) >= 30_000
    assert items["item_id"].is_unique and set(events["item_id"]) <= set(items["item_id"])
    assert items["category"].nunique() == 10 and events["timestamp"].is_monotonic_increasing is False


def test_bundled_files_are_what_the_generator_makes():
    events, items = make_demo()
    bundled = pd.read_csv(ROOT / "assets" / "demo" / "interactions.csv", dtype={"rating": "Int64"})
    assert len(bundled) == len(events) and bundled["item_id"].tolist() == events["item_id"].tolist()
    assert pd.read_csv(ROOT / "assets" / "demo" / "items.csv")["title"].tolist() == items["title"].tolist()


def test_hidden_tone_is_not_in_the_text():
    _, items = make_demo()
    assert list(items.columns) == ["item_id", "title", "author", "category", "description"]


def test_demo_titles_are_unique():
    """Titles are drawn without replacement, so none repeats (in any case), also in a catalog three times larger."""
    for seed, n_items in [(SEED, 1600), (1, 5000)]:
        titles = make_catalog(n_items, np.random.default_rng(seed))["title"]
        assert titles.is_unique and titles.str.casefold().is_unique
    assert pd.read_csv(ROOT / "assets" / "demo" / "items.csv")["title"].is_unique
