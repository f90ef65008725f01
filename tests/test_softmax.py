"""Which columns and rows a training step scores, by the catalog's size (softmax.py)."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.config import TrainConfig
from recsys.model import HistoryModel
from recsys.softmax import rows_by_scale, text_row_count


@pytest.mark.parametrize(("n_items", "full_sampled", "settings", "rows"), [
    (9_125, True, {}, 460),  # ml-latest-small's catalog: ceil(2,048 x 2,048 / 9,125)
    (9_742, True, {}, 431),
    (9_216, True, {}, 456),
    (50_000, True, {}, 84),  # the text-only scores' last full size
    (50_001, True, {}, 0),  # above it both paths sample the same columns: every row
    (2_100, True, {}, 1_998),
    (2_049, True, {}, 0),  # the rule asks for a whole batch
    (9_742, False, {}, 0),  # few seen items: the full softmax on both paths
    (9_742, True, {"text_loss_weight": 0.0}, 0),
    (9_742, True, {"batch_size": 1_024}, 216),
    (9_742, True, {"softmax_items": 4_096}, 862),
    (500, False, {}, 0),  # the demo's size of catalog: every row
])
def test_rows_by_scale_score_as_many_pairs_as_the_sampled_columns(n_items, full_sampled, settings, rows):
    assert rows_by_scale(n_items, full_sampled, TrainConfig(**settings)) == rows


def _model(n_items: int, seen: int) -> HistoryModel:
    text = np.random.default_rng(0).standard_normal((n_items, 4)).astype(np.float32)
    model = HistoryModel(text, np.ones(n_items, bool), 4, 3, True)
    model.target_counts = np.r_[np.ones(seen), np.zeros(n_items - seen)]
    return model


def test_a_set_count_wins_and_by_scale_reads_the_models_seen_items():
    small = {"softmax_items": 16, "batch_size": 32}
    assert text_row_count(_model(60, 60), TrainConfig(**small, text_loss_rows=-1)) == 9  # ceil(32 x 16 / 60)
    assert text_row_count(_model(60, 16), TrainConfig(**small, text_loss_rows=-1)) == 0  # 16 seen: full softmax
    assert text_row_count(_model(60, 60), TrainConfig(**small)) == 0  # the default: every row
    assert text_row_count(_model(60, 16), TrainConfig(**small, text_loss_rows=5)) == 5
    assert text_row_count(_model(60, 60), TrainConfig(**small, text_loss_rows=32)) == 0  # a whole batch
    assert text_row_count(_model(60, 60), TrainConfig(**small, text_loss_rows=5, text_loss_weight=0.0)) == 0
