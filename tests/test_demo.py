from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_generator_odds_score_the_bundled_demo_as_measured():
    """About the best ranking the demo allows (the generator's own odds) on its warm protocol, the number the README
    and the benchmark read the tuned model against (EASE scores 0.0715 there)."""
    from recsys.comparison import splits
    from recsys.data import import_dataset
    from recsys.demo import GeneratorOdds, make_demo_hidden
    from recsys.protocols import evaluate
    dataset = import_dataset(ROOT / "assets" / "demo" / "interactions.csv", ROOT / "assets" / "demo" / "items.csv")
    events, catalog, tastes = make_demo_hidden()
    assert tastes.category.shape == (700, 10) and tastes.tone.shape == (700, 6)
    assert events["item_id"].tolist() == dataset.interactions.sort_values("row")["item_id"].tolist()
    warm = splits(dataset)[0]
    metrics = evaluate(GeneratorOdds(catalog, tastes), warm, dataset.items["item_id"].astype(str).to_numpy())
    assert (round(metrics.hr, 4), round(metrics.ndcg, 4)) == (0.2014, 0.1147)


def test_generator_odds_refuse_items_not_in_their_catalog():
    from recsys.demo import GeneratorOdds, make_demo_hidden
    events, catalog, tastes = make_demo_hidden(200, 5)
    with pytest.raises(ValueError, match="demo catalog"):
        GeneratorOdds(catalog, tastes).fit(events.assign(row=range(len(events))), np.array(["B00001", "X1"]))
