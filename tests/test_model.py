from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.model import HistoryModel, unique_inverse

N, TEXT_DIM, DIM, L = 300, 6, 8, 4  # 300 items: the batch's distinct items are padded past 128 rows


def model(seen=None) -> HistoryModel:
    rng = np.random.default_rng(0)
    m = HistoryModel(rng.standard_normal((N, TEXT_DIM)).astype(np.float32),
                     np.ones(N, bool) if seen is None else seen, DIM, L, True, id_init=0.1)
    with torch.no_grad():
        m.position_logits.copy_(torch.tensor([0.1, -0.3, 0.5, 0.2]))
        m.bias.weight[:-1].normal_(0, 1, generator=torch.Generator().manual_seed(1))
    return m


def test_a_user_is_the_recency_weighted_mean_of_its_history_items_and_padding_weighs_nothing():
    m = model()
    history = torch.tensor([[5, 17, 299, 0], [N, N, 42, 7], [N, N, N, N]] + [[i, i + 1, i + 2, i + 3] for i in
                                                                            range(0, 280, 2)])
    users = m.users(history)
    table = m.item_in().detach()
    for row in range(3):
        real = history[row] != N
        weights = torch.softmax(m.position_logits.detach()[real], dim=0)
        expected = (weights[:, None] * table[history[row][real]]).sum(0) if real.any() else torch.zeros(DIM)
        torch.testing.assert_close(users[row].detach(), expected)
    assert torch.equal(users[2].detach(), torch.zeros(DIM))  # no history: the zero vector, no NaN


def test_a_rows_seen_items_are_its_historys_items_but_padding_and_its_own_target():
    history = torch.tensor([[N, 5, 7, 9], [1, 2, 1, 3], [N, N, N, N]])
    assert model().seen_items(history, torch.tensor([7, 1, 4])).tolist() == [[-1, 5, -1, 9], [-1, 2, -1, 3],
                                                                          [-1, -1, -1, -1]]


def test_the_gradient_reaches_the_text_adapter_and_the_history_items_id_vectors_only():
    m = model()
    m.users(torch.tensor([[N, 3, 9, 3]])).sum().backward()
    touched = set(torch.nonzero(m.in_id.weight.grad.abs().sum(1)).flatten().tolist())
    assert touched == {3, 9}
    assert m.in_adapter.weight.grad.abs().sum() > 0


def test_a_candidates_factors_are_the_catalogs_rows_for_those_items():
    m = model()
    candidates = torch.tensor([0, 7, 150, 299])
    text_items, text_bias = m.text_out()
    some_items, some_bias = m.text_out(candidates)  # 4 rows, padded to 128 for the matmul and cut back
    assert some_items.shape == (4, DIM)
    torch.testing.assert_close(some_items, text_items[candidates])
    full_items, full_bias = m.full_out(text_items)
    some_full_items, some_full_bias = m.full_out(some_items, candidates)
    torch.testing.assert_close(some_full_items, full_items[candidates])
    torch.testing.assert_close(some_full_bias, full_bias[candidates])
    torch.testing.assert_close(full_items, text_items + m.out_id.weight[:-1])


def test_logits_score_every_item_and_never_seen_items_score_minus_infinity():
    seen = np.ones(N, bool)
    seen[[4, 250]] = False
    m = model(seen)
    users = torch.randn(2, DIM)
    full, text_only = m.logits(users), m.logits(users, text_only=True)
    assert full.shape == text_only.shape == (2, N)
    assert torch.isinf(full[:, [4, 250]]).all() and torch.isinf(text_only[:, [4, 250]]).all()
    expected = users @ (m.out_adapter(m.text) + m.out_id.weight[:-1]).T + m.bias.weight[:-1, 0]
    torch.testing.assert_close(full[:, :4], expected[:, :4])
    torch.testing.assert_close(text_only[:, 5:10], (users @ m.out_adapter(m.text).T)[:, 5:10])


def test_scoring_against_a_table_computed_once_gives_the_same_scores_and_validation_is_chunk_free(monkeypatch):
    from recsys import loop_hooks
    m = model()
    users = torch.randn(3, DIM)
    with torch.no_grad():
        for text_only in (False, True):
            assert torch.equal(m.logits(users, text_only, table=m.score_table(text_only)), m.logits(users, text_only))
        m.bias.weight[10:17, 0] = 1000.0 * (1 + torch.arange(7.0))  # items 10-16 lead, 16 first, whatever the user
    rng = np.random.default_rng(2)
    sequences = {f"u{u}": np.r_[rng.choice(np.arange(20, N), 5, replace=False), 10 + u] for u in range(7)}
    whole = loop_hooks.validation_gains(m, sequences, sorted(sequences), L)
    np.testing.assert_allclose(whole, 1 / np.log2(np.arange(7, 0, -1) + 1))  # u6 first, u0 seventh
    monkeypatch.setattr(loop_hooks, "VALIDATION_CHUNK", 2)  # four chunks, one item table
    tables = []
    monkeypatch.setattr(m, "score_table", lambda *a: tables.append(a) or HistoryModel.score_table(m, *a))
    assert np.array_equal(loop_hooks.validation_gains(m, sequences, sorted(sequences), L), whole)
    assert tables == [()]


def test_tied_ids_are_one_table_for_history_and_candidates_with_the_same_draws_as_untied():
    rng = np.random.default_rng(0)
    text, seen = rng.standard_normal((N, TEXT_DIM)).astype(np.float32), np.ones(N, bool)
    torch.manual_seed(3)
    untied = HistoryModel(text, seen, DIM, L, True, id_init=0.1)
    torch.manual_seed(3)
    tied = HistoryModel(text, seen, DIM, L, True, id_init=0.1, tied_ids=True)
    assert tied.out_id is tied.in_id and untied.out_id is not untied.in_id
    torch.testing.assert_close(tied.in_id.weight, untied.in_id.weight)  # the same random start as untied
    assert sum(p is tied.in_id.weight for p in tied.parameters()) == 1  # one parameter, trained once
    tied.full_out(tied.text_out()[0])[0].sum().backward()  # a candidate-side loss moves the history side too
    assert tied.in_id.weight.grad is not None and bool(tied.in_id.weight.grad[:-1].abs().sum() > 0)


@pytest.mark.parametrize("size", [12, 1000])  # within a few times the index's length (marked), or far above (sorted)
def test_unique_inverse_is_torchs_unique_with_its_inverse(size):
    index = torch.tensor([[11, 3, 3, 0], [7, 11, 11, 3], [0, 0, 5, 9]])
    unique, inverse = unique_inverse(index, size)
    assert unique.tolist() == [0, 3, 5, 7, 9, 11]
    assert inverse.tolist() == [[5, 1, 1, 0], [3, 5, 5, 1], [0, 0, 2, 4]]
    assert unique.dtype == index.dtype and inverse.shape == index.shape
    assert torch.equal(unique[inverse], index)


def test_id_vectors_can_start_at_given_features_in_their_first_columns_on_both_sides():
    rng = np.random.default_rng(5)
    start = rng.standard_normal((N, 3)).astype(np.float32)
    start[7] = 0.0  # an item without interactions starts as its text alone
    m = HistoryModel(rng.standard_normal((N, TEXT_DIM)).astype(np.float32), np.ones(N, bool), DIM, L, True,
                     id_start=start)
    for table in (m.in_id.weight, m.out_id.weight):
        np.testing.assert_array_equal(table[:-1, :3].detach().numpy(), start)
        assert not table[:, 3:].any() and not table[-1].any()  # the other columns and the padding row: zero
    text_items = m.out_adapter(m.text)
    torch.testing.assert_close(m.item_out()[7], text_items[7])
    plain = HistoryModel(m.text.numpy(), np.ones(N, bool), DIM, L, True)
    assert not plain.in_id.weight.any() and not plain.out_id.weight.any()


def test_shared_ids_are_a_part_both_sides_share_plus_each_sides_own_and_the_start_goes_into_the_shared_part():
    rng = np.random.default_rng(5)
    text = rng.standard_normal((N, TEXT_DIM)).astype(np.float32)
    start = rng.standard_normal((N, 3)).astype(np.float32)
    m = HistoryModel(text, np.ones(N, bool), DIM, L, True, id_start=start, shared_ids=True)
    np.testing.assert_array_equal(m.shared_id.weight[:-1, :3].detach().numpy(), start)
    assert not m.in_id.weight.any() and not m.out_id.weight.any()  # the own parts start at zero
    torch.testing.assert_close(m.item_in()[:-1], m.in_adapter(m.text) + m.shared_id.weight[:-1])
    torch.testing.assert_close(m.item_out(), m.out_adapter(m.text) + m.shared_id.weight[:-1])
    with torch.no_grad():  # each side: own part + shared part, in every path that scores or pools
        for seed, emb in enumerate((m.in_id, m.out_id, m.shared_id)):
            emb.weight[:-1].normal_(0, 1, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(m.item_in()[:-1], m.in_adapter(m.text) + m.in_id.weight[:-1] + m.shared_id.weight[:-1])
    history = torch.tensor([[N, 3, 9, 3]])
    torch.testing.assert_close(m.users(history)[0], torch.softmax(m.position_logits[1:], 0) @ m.item_in()[[3, 9, 3]])
    candidates = torch.tensor([4, 11])
    items, _ = m.full_out(m.text_out(candidates)[0], candidates)
    torch.testing.assert_close(items, m.item_out()[candidates])
    torch.testing.assert_close(m.full_out(m.text_out()[0])[0], m.item_out())  # the whole catalog (full softmax)
    users = m.users(history)
    torch.testing.assert_close(m.logits(users), users @ m.item_out().T + m.bias.weight[:-1, 0])  # validation
    # the gradient of a history-side loss reaches the shared part and the history side's own, not the candidates'
    m.users(history).sum().backward()
    assert set(torch.nonzero(m.shared_id.weight.grad.abs().sum(1)).flatten().tolist()) == {3, 9}
    assert set(torch.nonzero(m.in_id.weight.grad.abs().sum(1)).flatten().tolist()) == {3, 9}
    assert m.out_id.weight.grad is None
    served = m.to_serving(np.array([f"i{i}" for i in range(N)]))  # serving holds the sums: its format is unchanged
    np.testing.assert_allclose(served.item_out, m.item_out().detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(served.item_in, m.item_in()[:-1].detach().numpy(), rtol=1e-6)


def test_tied_ids_have_no_shared_part_and_without_ids_nothing_is_shared():
    text = np.zeros((N, TEXT_DIM), np.float32)
    assert HistoryModel(text, np.ones(N, bool), DIM, L, True, tied_ids=True, shared_ids=True).shared_id is None
    assert HistoryModel(text, np.ones(N, bool), DIM, L, False, shared_ids=True).shared_id is None
    assert HistoryModel(text, np.ones(N, bool), DIM, L, True).shared_id is None


@pytest.mark.parametrize("kind", ["history", "attention"])
def test_a_round_builds_its_model_with_shared_id_parts_as_its_config_says(kind):
    from recsys.config import TrainConfig
    from recsys.trainer import build_model
    text, seen = np.zeros((N, TEXT_DIM), np.float32), np.ones(N, bool)
    config = TrainConfig(kind=kind, dim=DIM, max_history=L)
    assert build_model(text, seen, config).shared_id is not None
    assert build_model(text, seen, TrainConfig(kind=kind, dim=DIM, max_history=L, shared_ids=False)).shared_id is None
