from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys.fused_softmax import Scores
from recsys.losses import TextRows, next_item_loss, sampled_columns, text_rows


class FixedDraws:
    """A stand-in rng whose `choice` returns the given draws and records how it was called."""

    def __init__(self, draws: list[int]) -> None:
        self.draws, self.calls = np.array(draws), []

    def choice(self, n: int, size: int, p: np.ndarray) -> np.ndarray:
        self.calls.append((n, size, p))
        return self.draws


def per_row(correction: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """The correction each row's logits get, as fused_softmax applies it (Scores.offset = -correction[columns]):
    every column's, except in the row's own target column."""
    rows = correction.expand(len(columns), -1).clone()
    rows[torch.arange(len(columns)), columns] += -correction[columns]
    return rows


def test_the_correction_is_minus_log_of_each_columns_inclusion_probability():
    counts = np.array([2.0, 1.0, 1.0, 4.0])  # q = 0.25, 0.125, 0.125, 0.5
    rng = FixedDraws([2])
    candidates, columns, correction = sampled_columns(torch.tensor([0, 1]), counts, 1, rng)
    n, size, p = rng.calls[0]
    assert (n, size) == (4, 1)
    np.testing.assert_allclose(p, [0.25, 0.125, 0.125, 0.5])
    assert candidates.tolist() == [0, 1, 2]  # item 3 was never drawn, however frequent
    assert columns.tolist() == [0, 1]
    # 3 draws (2 targets + 1 extra): p = 1 - (1 - q)^3
    p0, p1 = 1 - 0.75 ** 3, 1 - 0.875 ** 3  # 0.578125, 0.330078125
    np.testing.assert_allclose(correction.numpy(), [-math.log(p0), -math.log(p1), -math.log(p1)], rtol=1e-6)
    assert correction.dtype == torch.float32
    # as the loss applies it: each row leaves its own target column uncorrected
    rows = per_row(correction, columns)
    np.testing.assert_allclose(rows.numpy(), [[0.0, -math.log(p1), -math.log(p1)],
                                              [-math.log(p0), 0.0, -math.log(p1)]], rtol=1e-6)


def test_repeated_targets_share_a_column_and_each_row_leaves_its_own_uncorrected():
    counts = np.array([1.0, 1.0])
    candidates, columns, correction = sampled_columns(torch.tensor([1, 1, 0]), counts, 2, FixedDraws([0, 1]))
    assert candidates.tolist() == [0, 1]
    assert columns.tolist() == [1, 1, 0]
    c = -math.log(1 - 0.5 ** 5)
    np.testing.assert_allclose(correction.numpy(), [c, c], rtol=1e-6)
    rows = per_row(correction, columns)
    np.testing.assert_allclose(rows.numpy(), [[c, 0.0], [c, 0.0], [0.0, c]], rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_targets_are_always_candidates_and_their_columns_point_at_them(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 50, size=200).astype(float)
    counts[:3] = 0  # never a target, never drawn
    target = torch.from_numpy(rng.choice(200, size=32, p=counts / counts.sum()))
    candidates, columns, correction = sampled_columns(target, counts, 16, rng)
    assert torch.equal(candidates[columns], target)
    assert torch.equal(candidates, torch.unique(candidates))  # sorted, no duplicates
    assert not set(candidates.tolist()) & {0, 1, 2}
    assert len(candidates) <= 32 + 16
    assert correction.shape == (len(candidates),)
    assert (correction >= 0).all()  # p <= 1: -log p never lowers a logit


def test_a_fixed_seed_draws_the_same_columns():
    counts = np.arange(1.0, 101.0)
    target = torch.tensor([5, 50, 99])
    first = sampled_columns(target, counts, 20, np.random.default_rng(7))
    again = sampled_columns(target, counts, 20, np.random.default_rng(7))
    other = sampled_columns(target, counts, 20, np.random.default_rng(8))
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], other[0])


def test_a_frequent_item_is_contrasted_almost_uncorrected_and_a_rare_one_is_pushed_up():
    counts = np.array([1000.0, 1.0, 1.0])
    candidates, _, correction = sampled_columns(torch.tensor([0, 1]), counts, 1, FixedDraws([2]))
    assert candidates.tolist() == [0, 1, 2]
    assert correction[0].item() == pytest.approx(0.0, abs=1e-6)  # p = 1 - (2/1002)^3: always a column
    rare = -math.log(1 - (1 - 1 / 1002) ** 3)  # about log(1002 / 3): it stands for the rare items not drawn
    np.testing.assert_allclose(correction[1:].numpy(), [rare, rare], rtol=1e-6)
    assert rare == pytest.approx(5.8121, abs=1e-4)


def test_targets_that_are_not_draws_are_columns_for_certain_in_every_row():
    counts = np.array([0.0, 1.0, 1.0, 2.0])  # item 0 is never a training target (q = 0): a thumbs-down item, say
    candidates, columns, correction = sampled_columns(torch.tensor([0, 1]), counts, 1, FixedDraws([3]),
                                                      targets_drawn=False)
    assert candidates.tolist() == [0, 1, 3] and columns.tolist() == [0, 1]
    p3 = 1 - 0.5 ** 1  # one draw from q: the two down items are not draws
    np.testing.assert_allclose(correction.numpy(), [0.0, 0.0, -math.log(p3)], rtol=1e-6)


def test_text_rows_draw_a_fixed_count_of_liked_targets_and_say_their_odds():
    liked = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
    mask, probability = text_rows(liked, 3, np.random.default_rng(4))
    again, _ = text_rows(liked, 3, np.random.default_rng(4))
    assert mask.shape == liked.shape and int(mask.sum()) == 3 and not (mask & ~liked).any()
    assert probability == 3 / 8 and (mask == again).all()
    draws = {tuple(np.flatnonzero(text_rows(liked, 3, np.random.default_rng(s))[0])) for s in range(40)}
    assert len(draws) > 10  # a draw, not always the first liked targets


@pytest.mark.parametrize("count,liked", [(0, 9), (9, 9), (12, 9)])
def test_text_rows_are_every_row_when_no_fewer_are_asked_for_and_draw_nothing(count, liked):
    rng = np.random.default_rng(2)
    assert text_rows(np.ones(liked, bool), count, rng) == (None, 1.0)
    assert rng.integers(10**9) == np.random.default_rng(2).integers(10**9)  # the run's draws are not moved


def _text_loss_setup():
    g = torch.Generator().manual_seed(0)
    users = torch.randn(4, 3, generator=g)
    full = Scores(torch.randn(6, 3, generator=g), torch.randn(6, generator=g), torch.tensor([0, 2, 5, 2]))
    text = Scores(torch.randn(6, 3, generator=g), torch.randn(6, generator=g), torch.tensor([0, 2, 5, 2]))
    return users, full, text, torch.tensor([1.0, 2.0, 0.5, 1.5])


def test_the_text_loss_on_a_share_of_rows_is_their_sum_over_their_odds_and_unbiased():
    """Horvitz-Thompson: sum over the drawn rows of weight x CE / (p x all rows' weight). Over every draw of 2 of
    4 rows (each row in half of them), its mean is the text loss on all rows, exactly."""
    users, full, text, weight = _text_loss_setup()
    base = F.cross_entropy(users @ full.items.T + full.bias, full.target, reduction="none")
    per_row = F.cross_entropy(users @ text.items.T + text.bias, text.target, reduction="none")
    whole = next_item_loss(users, full, text, weight, 0.7)
    expected = (weight * base).sum() / weight.sum() + 0.7 * (weight * per_row).sum() / weight.sum()
    torch.testing.assert_close(whole, expected)
    shares = []
    for pair in itertools.combinations(range(4), 2):
        mask = torch.zeros(4, dtype=torch.bool)
        mask[list(pair)] = True
        share = next_item_loss(users, full, text, weight, 0.7, TextRows(mask, 0.5))
        torch.testing.assert_close(share, (weight * base).sum() / weight.sum()
                                   + 0.7 * (weight * per_row)[mask].sum() / (0.5 * weight.sum()))
        shares.append(share)
    torch.testing.assert_close(torch.stack(shares).mean(), whole)


def test_the_text_loss_on_a_share_of_rows_trains_the_users_of_those_rows_only_through_it():
    users, full, text, weight = _text_loss_setup()
    mask = torch.tensor([True, False, False, True])
    users = users.clone().requires_grad_()
    next_item_loss(users, Scores(full.items, full.bias, full.target), text, weight, 1.0, TextRows(mask, 0.5)).backward()
    with_text = users.grad.clone()
    users.grad = None
    next_item_loss(users, full, text, weight, 0.0).backward()  # the full scores' part alone
    assert torch.allclose(with_text[~mask], users.grad[~mask]) and not torch.allclose(with_text[mask], users.grad[mask])
