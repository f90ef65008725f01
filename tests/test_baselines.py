from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.baselines import EASE, ItemKNN, Popularity, SASRec, UntunedEncoder
from recsys.data import import_dataset
from recsys.protocols import Split, cold_split, evaluate, rank_lists, warm_split
from tests.conftest import need_movielens

ITEMS = np.array(["a", "b", "c", "d"])


def train():
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u2", "a", 1), ("u2", "b", 2), ("u2", "c", 3), ("u3", "a", 1)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return df.assign(row=np.arange(len(df)))


def test_popularity_ranks_by_count_and_never_scores_unseen_items():
    pop = Popularity()
    pop.fit(train(), ITEMS)
    assert pop.score(["u3"]).tolist() == [[3.0, 2.0, 1.0, -np.inf]]


def test_itemknn_scores_by_cosine_to_the_history():
    knn = ItemKNN()
    knn.fit(train(), ITEMS)
    # cos(a,b) = 2/sqrt(3*2), cos(a,c) = 1/sqrt(3*1)
    assert knn.score(["u3"])[0, :3] == pytest.approx([0, 2 / np.sqrt(6), 1 / np.sqrt(3)])


def test_ease_prefers_the_co_consumed_item():
    ease = EASE(lam=1.0)
    ease.fit(train(), ITEMS)
    s = ease.score(["u3"])[0]
    assert s[1] > s[2] > 0 and s[3] == -np.inf


def test_history_is_excluded_from_ranked_lists():
    split = Split("warm", train(), pd.DataFrame({"user_id": ["u1"], "item_id": ["c"]}))
    pop = Popularity()
    pop.fit(split.train, ITEMS)
    assert rank_lists(pop, split, ITEMS, k=10) == {"u1": ["c"]}


def test_untuned_encoder_weights_recent_items_more():
    vectors = np.eye(4, dtype=np.float32)
    enc = UntunedEncoder(vectors, window=20, decay=0.5)
    enc.fit(train(), ITEMS)
    assert enc.score(["u2"])[0].tolist() == pytest.approx([1 / 7, 2 / 7, 4 / 7, 0])


@pytest.mark.slow
def test_baselines_on_movielens_match_the_referee_table():
    root = need_movielens()
    ds = import_dataset(root / "ratings.csv", root / "movies.csv")
    ids = np.sort(ds.items["item_id"].to_numpy().astype(str))
    warm = warm_split(ds.interactions)
    got = {s.name: round(evaluate(s, warm, ids).ndcg, 4) for s in (Popularity(), ItemKNN(), EASE())}
    assert got == {"popularity": 0.0194, "itemknn": 0.0310, "ease": 0.0408}
    cold = cold_split(ds.interactions)
    assert len(cold.candidates) == 1359 and len(cold.test) == 670


def test_the_sasrec_baseline_is_configured_as_the_field_runs_it(monkeypatch):
    import recsys.trainer as trainer
    seen = {}

    def fit(text, item_ids, train, feedback, config, *rest, **kw):
        seen["config"] = config
        raise StopIteration
    monkeypatch.setattr(trainer, "fit_adapter", fit)
    with pytest.raises(StopIteration):
        SASRec().fit(pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": [0]}), np.array(["a"]))
    config = seen["config"]
    assert (config.kind, config.tied_ids, config.patience, config.max_history, config.use_item_ids,
            config.text_loss_weight, config.spectral_rank) == ("attention", True, 10, 200, True, 0.0, 0)  # ID-only
    assert config.epochs == 200  # a cap validation stops it before (the page tests' template caps it at 2)
