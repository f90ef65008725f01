"""The training step's optimiser on large catalogs: sparse ID-table gradients with lazy Adam updates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.config import TrainConfig
from recsys.model import HistoryModel
from recsys.sequences import Examples
from recsys.step import Optimisers, Shard, StepLoss, drop_history, lazy_ids, make_optimiser, train_step

N = 60
SAMPLED = TrainConfig(dim=8, max_history=3, batch_size=4, lr=0.05, softmax_items=16, text_softmax_items=16,
                      history_dropout=0.0, seed=0)
NO_DOWNS = Examples(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def test_lazy_updates_only_where_every_path_samples_and_nothing_forbids_them():
    counts = np.ones(N)
    assert lazy_ids(counts, SAMPLED)
    assert not lazy_ids(counts, TrainConfig(softmax_items=16, text_softmax_items=N))  # text path: full softmax
    few_seen = np.r_[np.ones(10), np.zeros(N - 10)]
    assert not lazy_ids(few_seen, SAMPLED)  # 10 seen items: the full softmax over them
    assert not lazy_ids(counts, TrainConfig(**{**SAMPLED.to_dict(), "weight_decay": 0.1}))
    assert not lazy_ids(counts, TrainConfig(**{**SAMPLED.to_dict(), "use_item_ids": False}))
    assert not lazy_ids(counts, SAMPLED, Shard(0, 2, lambda m: m))
    assert lazy_ids(counts, SAMPLED, device="cuda") and not lazy_ids(counts, SAMPLED, device="mps")


def _model(sparse: bool, shared: bool = False) -> HistoryModel:
    torch.manual_seed(0)
    text = np.random.default_rng(0).standard_normal((N, 6)).astype(np.float32)
    model = HistoryModel(text, np.ones(N, bool), 8, 3, True, id_init=0.1, sparse_ids=sparse, shared_ids=shared)
    model.target_counts = np.ones(N)
    return model


def _step(model, optim, batch_items: list[int], seed: int) -> None:
    """One step on examples whose histories and targets are `batch_items` (so those rows are looked up)."""
    items = np.array(batch_items, np.int64)
    examples = Examples(np.stack([items[[0, 1, 2]]] * 4), items[3:7], np.ones(4, np.float32))
    train_step(StepLoss(model), optim, examples, np.arange(4), (NO_DOWNS, NO_DOWNS), SAMPLED, "cpu",
               np.random.default_rng(seed))


@pytest.mark.parametrize("shared", [False, True])
def test_lazy_adam_is_dense_adamw_on_the_first_step_then_leaves_rows_a_step_did_not_touch(shared):
    lazy, dense = _model(True, shared), _model(False, shared)
    optims = {lazy: make_optimiser(lazy, SAMPLED), dense: make_optimiser(dense, SAMPLED)}
    assert isinstance(optims[lazy], Optimisers) and isinstance(optims[dense], torch.optim.AdamW)
    for model in (lazy, dense):
        _step(model, optims[model], [0, 1, 2, 3, 4, 5, 6], seed=1)
    assert ("shared_id.weight" in lazy.state_dict()) == shared
    for (name, a), b in zip(lazy.state_dict().items(), dense.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), name  # Adam's first step: lr x g / (|g| + eps) on both (2e-3 of lr)
    untouched = [i for i in range(N) if i > 6]
    assert torch.equal(lazy.in_id.weight[untouched], _model(True, shared).in_id.weight[untouched])
    before = {m: m.in_id.weight.detach().clone() for m in (lazy, dense)}
    shared_before = {m: m.shared_id.weight.detach().clone() for m in (lazy, dense)} if shared else {}
    for model in (lazy, dense):
        _step(model, optims[model], [7, 8, 9, 10, 11, 12, 13], seed=2)
    assert torch.equal(lazy.in_id.weight[0], before[lazy][0])  # row 0: not in the second step's histories
    assert not torch.equal(dense.in_id.weight[0], before[dense][0])  # dense AdamW: its momentum moved it
    assert not torch.equal(lazy.in_id.weight[7], before[lazy][7])
    if shared:  # the shared part (also looked up by the step's sampled candidates): lazily, only those rows move
        moved = {m: m.shared_id.weight.detach().ne(shared_before[m]).any(1) for m in (lazy, dense)}
        assert 7 <= int(moved[lazy].sum()) < int(moved[dense].sum())
        assert bool(moved[lazy][7:14].all())  # the second step's history rows


def test_a_lazy_optimiser_steps_a_tied_id_table_once():
    m = HistoryModel(np.zeros((300, 4), np.float32), np.ones(300, bool), 8, 4, True, id_init=0.1, sparse_ids=True,
                     tied_ids=True)
    optim = make_optimiser(m, TrainConfig())
    sparse = optim.optimisers[1].param_groups[0]["params"]
    assert len(sparse) == 2 and sparse[0] is m.in_id.weight and sparse[1] is m.bias.weight


def test_each_kind_steps_at_its_own_learning_rate_and_old_versions_keep_their_one_rate():
    rates = {kind: make_optimiser(_model(False), TrainConfig(kind=kind, lr=0.02, attention_lr=0.003)).param_groups[0]["lr"]
             for kind in ("history", "attention")}
    assert rates == {"history": 0.02, "attention": 0.003}
    sparse = make_optimiser(_model(True), TrainConfig(kind="attention", lr=0.02, attention_lr=0.003))
    assert [o.param_groups[0]["lr"] for o in sparse.optimisers] == [0.003, 0.003]
    assert (TrainConfig().lr, TrainConfig().attention_lr) == (1e-2, 5e-3)
    saved = TrainConfig.from_saved({"dim": 8, "kind": "attention", "lr": 1e-3})  # saved with one rate for both kinds
    assert (saved.step_lr, saved.attention_lr) == (1e-3, 1e-3)


def test_the_dense_optimiser_is_torchs_fused_adamw_and_steps_as_the_per_tensor_loop_does():
    fused, loop = _model(False), _model(False)
    optim = make_optimiser(fused, SAMPLED)
    assert optim.defaults["fused"] is True
    assert make_optimiser(_model(True), SAMPLED).optimisers[0].defaults["fused"] is True  # beside lazy ID tables
    reference = torch.optim.AdamW(loop.parameters(), lr=SAMPLED.step_lr, weight_decay=SAMPLED.weight_decay)
    for seed, items in ((1, [0, 1, 2, 3, 4, 5, 6]), (2, [7, 8, 9, 10, 11, 12, 13])):
        _step(fused, optim, items, seed)
        _step(loop, reference, items, seed)
    for (name, a), b in zip(fused.state_dict().items(), loop.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert not torch.equal(fused.in_id.weight, _model(False).in_id.weight)  # it did train


def test_a_lazy_optimiser_steps_the_shared_id_part_with_the_own_parts():
    m = HistoryModel(np.zeros((300, 4), np.float32), np.ones(300, bool), 8, 4, True, sparse_ids=True,
                     shared_ids=True)
    sparse = make_optimiser(m, TrainConfig()).optimisers[1].param_groups[0]["params"]
    assert [p is q for p, q in zip(sparse, (m.in_id.weight, m.out_id.weight, m.shared_id.weight, m.bias.weight))] \
        == [True] * 4 and len(sparse) == 4


def test_an_attention_steps_text_rows_are_the_positions_its_mask_names():
    """A (users x positions) mask of the text-only loss's rows (TrainConfig.text_loss_rows) picks those positions:
    the text part moves with the masked position's target and with no other position's."""
    from recsys.attention import SequenceModel
    from recsys.losses import TextRows
    torch.manual_seed(0)
    model = SequenceModel(np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32), np.ones(7, bool), 8, 4,
                          use_item_ids=True, blocks=1, heads=2, dropout=0.0, id_init=0.3).eval()
    on, off = (TrainConfig(dim=8, max_history=4, batch_size=2, history_dropout=0.0, text_loss_weight=w)
               for w in (1.0, 0.0))
    history = torch.tensor([[7, 0, 1, 2], [3, 4, 5, 6]])
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[1, 2] = True

    def text_part(target: list[list[int]]) -> float:
        args = (history, torch.tensor(target), torch.ones(2, 4), (NO_DOWNS, NO_DOWNS))
        with torch.no_grad():
            return float(StepLoss(model)(*args, on, "cpu", np.random.default_rng(0), None, TextRows(mask, 0.5))
                         - StepLoss(model)(*args, off, "cpu", np.random.default_rng(0)))

    base = text_part([[7, 1, 2, 3], [4, 5, 6, 0]])
    assert base > 0
    assert text_part([[7, 1, 2, 5], [4, 5, 6, 0]]) == pytest.approx(base, abs=1e-6)  # another user's position
    assert text_part([[7, 1, 2, 3], [4, 5, 6, 2]]) == pytest.approx(base, abs=1e-6)  # the same user's next one
    assert abs(text_part([[7, 1, 2, 3], [4, 5, 1, 0]]) - base) > 1e-3  # the masked position's target


def test_no_rows_are_drawn_for_a_text_loss_that_is_off():
    """text_loss_rows with text_loss_weight 0 draws nothing: the run's random stream is the one without it."""
    model, draws = _model(False), []
    config = TrainConfig(**{**SAMPLED.to_dict(), "text_loss_weight": 0.0, "text_loss_rows": 2,
                            "softmax_items": N, "text_softmax_items": N})
    items = np.arange(7, dtype=np.int64)
    examples = Examples(np.stack([items[[0, 1, 2]]] * 4), items[3:7], np.ones(4, np.float32))
    for rows in (2, 0):
        rng = np.random.default_rng(5)
        train_step(StepLoss(model), make_optimiser(model, config), examples, np.arange(4), (NO_DOWNS, NO_DOWNS),
                   TrainConfig(**{**config.to_dict(), "text_loss_rows": rows}), "cpu", rng)
        draws.append(rng.random())
    assert draws[0] == draws[1]


def test_by_scale_a_step_draws_the_rules_rows_and_none_on_a_full_softmax():
    """text_loss_rows -1 (by scale) is the same step, loss and random stream as the count softmax.rows_by_scale
    gives: ceil(4 x 16 / 60) = 2 of the 4 targets where the full scores sample 16 columns of 60 items; with every
    item in the full softmax, the every-row step."""
    items = np.arange(7, dtype=np.int64)
    examples = Examples(np.stack([items[[0, 1, 2]]] * 4), items[3:7], np.ones(4, np.float32))

    def run(softmax_items: int, rows: int) -> tuple[float, float]:
        model, rng = _model(False), np.random.default_rng(5)
        config = TrainConfig(**{**SAMPLED.to_dict(), "softmax_items": softmax_items, "text_softmax_items": N,
                                "text_loss_rows": rows})
        loss = train_step(StepLoss(model), make_optimiser(model, config), examples, np.arange(4),
                          (NO_DOWNS, NO_DOWNS), config, "cpu", rng)
        return loss, rng.random()

    assert run(16, -1) == run(16, 2) != run(16, 0)
    assert run(N, -1) == run(N, 0) != run(N, 2)


def test_a_step_masks_the_window_before_history_dropout_and_not_with_the_setting_off():
    """The reader's whole window (before dropout hides slots) leaves each row's softmax: the step's loss is
    StepLoss's with that window as `seen`, not the dropped one, and differs from the unmasked loss."""
    config = TrainConfig(**{**SAMPLED.to_dict(), "softmax_items": N, "text_softmax_items": N, "history_dropout": 0.5})
    history = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]], np.int64)
    examples = Examples(history, np.array([20, 21, 22, 2], np.int64), np.ones(4, np.float32))

    def direct(seen: np.ndarray | None, setting: TrainConfig) -> float:
        rng = np.random.default_rng(3)
        dropped = drop_history(history, setting.history_dropout, N, rng)
        assert (dropped == N).any() and (dropped != N).any()
        with torch.no_grad():
            return float(StepLoss(_model(False))(
                torch.from_numpy(dropped), torch.from_numpy(examples.target), torch.ones(4), (NO_DOWNS, NO_DOWNS),
                setting, "cpu", rng, seen=None if seen is None else torch.from_numpy(seen)))

    def stepped(setting: TrainConfig) -> float:
        model = _model(False)
        return train_step(StepLoss(model), make_optimiser(model, setting), examples, np.arange(4),
                          (NO_DOWNS, NO_DOWNS), setting, "cpu", np.random.default_rng(3))

    off = TrainConfig(**{**config.to_dict(), "mask_seen": False})
    assert stepped(config) == pytest.approx(direct(history, config), abs=1e-6)
    assert stepped(off) == pytest.approx(direct(None, off), abs=1e-6)
    assert stepped(config) < stepped(off) - 1e-3  # fewer rivals, lower loss
    rng = np.random.default_rng(3)
    assert stepped(config) != pytest.approx(direct(drop_history(history, 0.5, N, rng), config), abs=1e-4)
