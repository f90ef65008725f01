import hashlib

import numpy as np
import pandas as pd
import pytest

from recsys.data import import_dataset
from recsys.positives import default_rule
from recsys.synthetic import large_ratings_set, taste_catalog


def test_the_large_set_has_book_crossings_columns_and_imports_without_a_time_column(tmp_path):
    ratings, books = large_ratings_set(tmp_path, n_ratings=5000, n_users=400, n_items=2000)
    log, catalog = pd.read_csv(ratings, sep=";", dtype=str), pd.read_csv(books, sep=";", dtype=str)
    assert list(log.columns) == ["User-ID", "ISBN", "Book-Rating"]
    assert list(catalog.columns) == ["ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"]
    assert len(catalog) == 2000 and catalog["ISBN"].str.fullmatch(r"\d{10}").all() and catalog["ISBN"].is_unique
    assert not log.duplicated(["User-ID", "ISBN"]).any() and len(log) == 4390  # 5,000 drawn, repeats dropped
    assert 0.5 < (log["Book-Rating"] == "0").mean() < 0.75  # mostly implicit, as in Book-Crossing
    dataset = import_dataset(str(ratings), str(books))
    assert len(dataset.items) == 2000 and dataset.report.file_order
    first = catalog.iloc[0]
    text = dataset.items.set_index("item_id").at[first["ISBN"], "text"]
    assert text == f"{first['Book-Title']}. Book author: {first['Book-Author']}. Publisher: {first['Publisher']}"
    rule = default_rule(dataset.interactions)  # its implicit 0s are positives, not dislikes
    assert (rule.min_rating, rule.unrated) == (pytest.approx(4.4), 0.0)  # 2 + 0.3 * 8: this draw's scale is 2-10
    weight, disliked = rule.weights(dataset.interactions)
    assert disliked.sum() == dataset.interactions["rating"].between(1, 4).sum() > 0
    assert (weight > 0).sum() == len(log) - disliked.sum()


def test_the_same_seed_writes_the_same_files(tmp_path):
    first = large_ratings_set(tmp_path / "a", n_ratings=2000, n_users=100, n_items=500)
    again = large_ratings_set(tmp_path / "b", n_ratings=2000, n_users=100, n_items=500)
    digest = lambda paths: [hashlib.md5(p.read_bytes()).hexdigest() for p in paths]
    assert digest(first) == digest(again)


def test_the_taste_catalog_draws_each_users_history_from_three_topics():
    model, log = taste_catalog(3000, dim=16, n_users=20, topics=50, history=10)
    assert model.item_out.shape == (3000, 16) and model.item_bias.shape == (3000,)
    assert log.groupby("user_id").size().eq(10).all() and log["user_id"].nunique() == 20
    assert np.array_equal(log["row"].to_numpy(), np.arange(200))
