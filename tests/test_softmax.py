"""Which columns and rows a training step scores, by the catalog's size (softmax.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.config import TrainConfig
from recsys.fused_softmax import Scores, unlikelihood
from recsys.losses import sampled_columns
from recsys.model import HistoryModel
from recsys.sequences import Examples
from recsys.softmax import StepItems, down_loss, rows_by_scale, sampled_mask, step_scores, text_row_count


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


def test_a_seen_item_is_masked_at_its_column_among_the_sampled_candidates_and_absent_ones_are_not_columns():
    seen = torch.tensor([[4, -1, 9], [2, 7, -1]])
    got = sampled_mask(seen, torch.tensor([2, 4, 5, 9]), n_items=10)
    assert got.tolist() == [[1, -1, 3], [0, -1, -1]]


@pytest.mark.parametrize("sampled_full", [False, True])
def test_both_paths_mask_the_seen_items_at_their_own_columns(sampled_full):
    """Full softmax: the columns are item indices. Sampled full scores: columns among the step's candidates (the
    same draws as losses.sampled_columns makes); the text path (every item up to text_softmax_items): item indices."""
    model = _model(60, 60)
    config = TrainConfig(softmax_items=16 if sampled_full else 64, batch_size=32)
    target, seen = torch.tensor([3, 8]), torch.tensor([[8, 5, -1], [3, 11, 40]])  # 8 and 3: the batch's targets
    full, text = step_scores(StepItems(model), target, config, np.random.default_rng(0), seen=seen)
    assert torch.equal(text.masked, seen) and torch.equal(text.target, target)
    if not sampled_full:
        assert torch.equal(full.masked, seen)
        return
    candidates = sampled_columns(target, model.target_counts, 16, np.random.default_rng(0))[0].tolist()
    want = [[candidates.index(i) if i in candidates else -1 for i in row] for row in seen.tolist()]
    assert full.masked.tolist() == want and want[0][0] >= 0 and want[1][0] >= 0 and -1 in want[1][1:]


def test_the_thumbs_down_term_leaves_the_readers_history_out_of_its_softmax_as_the_next_item_loss_does():
    model = _model(60, 60)
    downs = Examples(np.array([[1, 2, 60], [7, 5, 9]]), np.array([5, 9]), np.ones(2, np.float32))
    on, off = TrainConfig(softmax_items=64), TrainConfig(softmax_items=64, mask_seen=False)
    with torch.no_grad():
        users = model.users(torch.from_numpy(downs.history))
        want = unlikelihood(users, Scores(*StepItems(model).full(), torch.tensor([5, 9]),
                                          masked=torch.tensor([[1, 2, -1], [7, 5, -1]])))
        got, unmasked = (float(down_loss(StepItems(model), downs, "cpu", np.random.default_rng(0), c)) for c in (on, off))
    assert got == pytest.approx(float(want), rel=1e-6) and abs(got - unmasked) > 1e-4
