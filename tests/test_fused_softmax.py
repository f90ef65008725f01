from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import recsys.fused_softmax as fused
from recsys.fused_softmax import Scores, cross_entropy, unlikelihood


def problem(rows=7, cols=11, dim=5, seed=0, offset=False):
    """Leaf tensors of a small scoring problem; columns 3 and 8 are never-seen items (bias -inf)."""
    g = torch.Generator().manual_seed(seed)
    users = torch.randn(rows, dim, generator=g, requires_grad=True)
    items = torch.randn(cols, dim, generator=g, requires_grad=True)
    bias = torch.randn(cols, generator=g)
    bias[[3, 8]] = float("-inf")
    bias.requires_grad_(True)
    target = torch.tensor([0, 1, 2, 4, 5, 10, 0][:rows])
    off = torch.randn(rows, generator=g) if offset else None
    return users, items, bias, target, off


def reference_matrix(users, items, bias, target, offset):
    scores = users @ items.T + bias
    if offset is not None:
        scores = scores + F.one_hot(target, len(items)) * offset[:, None]
    return scores


def grads(loss, *tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.fixture(params=["one block", "blocks of two rows"])
def block(request, monkeypatch):
    """One block (7 rows and 11 columns padded to 128 each), or 7 rows padded to 8 in four blocks of 2 rows and
    11 columns padded to 12 (shape buckets of 2, 24 scores a block)."""
    if request.param == "blocks of two rows":
        monkeypatch.setattr(fused, "SHAPE_BUCKET", 2)
        monkeypatch.setattr(fused, "BLOCK_ELEMENTS", 24)


@pytest.mark.parametrize("offset", [False, True])
def test_cross_entropy_and_its_gradients_are_torchs_weighted_cross_entropy(block, offset):
    users, items, bias, target, off = problem(offset=offset)
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25])
    got = cross_entropy(users, Scores(items, bias, target, off), weight)
    logits = reference_matrix(users, items, bias, target, off)
    want = (F.cross_entropy(logits, target, reduction="none") * weight).sum() / weight.sum()
    torch.testing.assert_close(got, want)
    for g, w in zip(grads(got, users, items, bias), grads(want, users, items, bias)):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("low", [-95.0, -200.0])  # p_t a denormal in fp32 / 0
def test_a_target_whose_probability_underflows_still_gets_its_exact_loss(block, low):
    users, items, bias, target, _ = problem()
    with torch.no_grad():
        bias[target[2]] = low
    got = cross_entropy(users, Scores(items, bias, target), torch.ones(7))
    want = F.cross_entropy(reference_matrix(users, items, bias, target, None), target)
    assert torch.isfinite(got) and float(got.detach()) > -low / 7
    torch.testing.assert_close(got, want)
    for g, w in zip(grads(got, users, items, bias), grads(want, users, items, bias)):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("kind", ["cross-entropy", "unlikelihood"])
@pytest.mark.parametrize("trained", [("users",), ("items",), ("bias",), ("users", "bias"), ("items", "bias"),
                                     ("users", "items")])
def test_each_set_of_inputs_that_needs_gradients_gets_torchs_gradients(block, kind, trained):
    leaves = dict(zip(("users", "items", "bias"), problem(offset=True)[:3]))
    _, _, _, target, off = problem(offset=True)
    inputs = {name: t if name in trained else t.detach() for name, t in leaves.items()}
    scores = Scores(inputs["items"], inputs["bias"], target, off)
    matrix = reference_matrix(inputs["users"], inputs["items"], inputs["bias"], target, off)
    if kind == "cross-entropy":
        got, want = cross_entropy(inputs["users"], scores, torch.ones(7)), F.cross_entropy(matrix, target)
    else:
        p_t = torch.softmax(matrix, 1)[torch.arange(7), target]
        got, want = unlikelihood(inputs["users"], scores), -torch.log1p(-p_t).mean()
    torch.testing.assert_close(got, want)
    needed = [leaves[name] for name in trained]
    for g, w in zip(grads(got, *needed), grads(want, *needed)):
        torch.testing.assert_close(g, w)


def test_never_seen_columns_get_no_gradient(block):
    users, items, bias, target, _ = problem()
    loss = cross_entropy(users, Scores(items, bias, target), torch.ones(7))
    g_items, g_bias = grads(loss, items, bias)
    assert g_items[[3, 8]].abs().sum() == 0 and g_bias[[3, 8]].abs().sum() == 0
    assert g_items[[0, 1, 2]].abs().sum() > 0


@pytest.mark.parametrize("offset", [False, True], ids=["full", "sampled: each row's own column uncorrected"])
def test_unlikelihood_and_its_gradients_match_minus_log_one_minus_p(block, offset):
    users, items, bias, target, off = problem(offset=offset)
    got = unlikelihood(users, Scores(items, bias, target, off))
    p = torch.softmax(reference_matrix(users, items, bias, target, off), dim=1)
    want = -torch.log1p(-p.gather(1, target[:, None]).squeeze(1)).mean()
    torch.testing.assert_close(got, want)
    for g, w in zip(grads(got, users, items, bias), grads(want, users, items, bias)):
        torch.testing.assert_close(g, w)


def test_an_unlikelihood_row_whose_item_holds_all_the_mass_is_clamped_and_adds_no_gradient():
    users = torch.tensor([[30.0, 0.0], [0.0, 0.0]], requires_grad=True)
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    bias = torch.zeros(3, requires_grad=True)
    loss = unlikelihood(users, Scores(items, bias, torch.tensor([0, 1])))
    # row 0: p(item 0) = 1 - 2e-13 -> clamped at 1 - 1e-6; row 1: uniform, p = 1/3
    assert loss.item() == pytest.approx((-torch.log1p(torch.tensor(-(1 - 1e-6))).item() + -torch.log1p(
        torch.tensor(-1 / 3)).item()) / 2, rel=1e-5)
    g_users, = grads(loss, users)
    assert g_users[0].abs().sum() == 0 and g_users[1].abs().sum() > 0


def test_under_bf16_autocast_the_loss_is_close_to_fp32_and_gradients_keep_the_inputs_dtypes():
    users, items, bias, target, _ = problem(rows=7, cols=11, dim=16, seed=3)
    weight = torch.ones(7)
    exact = cross_entropy(users, Scores(items, bias, target), weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half_users = users.to(torch.bfloat16)  # as a model's user vectors come out of autocast
        loss = cross_entropy(half_users, Scores(items, bias, target), weight)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(exact.item(), rel=2e-2)
    g_users, g_items, g_bias = grads(loss, users, items, bias)
    assert (g_users.dtype, g_items.dtype, g_bias.dtype) == (torch.float32,) * 3
    g_exact = grads(exact, items, bias)
    torch.testing.assert_close(g_items, g_exact[0], rtol=0.05, atol=0.02)
    torch.testing.assert_close(g_bias, g_exact[1], rtol=0.05, atol=0.02)  # (from the same bf16 matmul)


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 5e-3), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("kind", ["xent", "unlike"])
def test_under_autocast_each_rows_scale_reaches_its_gradients_as_torchs_fp32_gradients(block, dtype, tol, kind):
    users, items, bias, target, off = problem(rows=7, cols=11, dim=16, seed=5, offset=True)
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25])  # rows weigh differently: their scales differ
    logits = reference_matrix(users, items, bias, target, off)
    if kind == "xent":
        want = (F.cross_entropy(logits, target, reduction="none") * weight).sum() / weight.sum()
    else:
        want = -torch.log1p(-torch.softmax(logits, 1)[torch.arange(7), target]).mean()
    exact = grads(want, users, items, bias)
    with torch.autocast("cpu", dtype=dtype):
        scores = Scores(items, bias, target, off)
        loss = cross_entropy(users, scores, weight) if kind == "xent" else unlikelihood(users, scores)
    got = grads(loss, users, items, bias)
    for g, w in zip(got, exact):
        assert g.dtype == torch.float32
        assert 0 < float((g - w).norm() / w.norm()) < tol  # fp16 keeps ~3 digits, bf16 ~2; (> 0: autocast ran)


def test_inputs_without_gradients_are_left_alone_and_the_incoming_gradient_scales_the_rest():
    users, items, bias, target, _ = problem()
    frozen = items.detach()
    loss = cross_entropy(users, Scores(frozen, bias.detach(), target), torch.ones(7))
    g_once, = grads(loss, users)
    loss = cross_entropy(users, Scores(frozen, bias.detach(), target), torch.ones(7))
    g_thrice, = grads(3.0 * loss, users)
    torch.testing.assert_close(g_thrice, 3.0 * g_once)


def test_rows_selects_the_targets_and_offsets_of_those_rows_only():
    users, items, bias, target, off = problem(offset=True)
    scores = Scores(items, bias, target, off)
    mask = torch.tensor([True, False, True, False, False, True, False])
    some = scores.rows(mask)
    assert some.target.tolist() == [0, 2, 10] and torch.equal(some.offset, off[mask])
    assert some.items is items and some.bias is bias
    torch.testing.assert_close(reference_matrix(users[mask], items, bias, some.target, some.offset),
                               reference_matrix(users, items, bias, target, off)[mask])


def test_without_grad_mode_only_the_loss_is_computed():
    users, items, bias, target, _ = problem()
    with torch.no_grad():
        loss = unlikelihood(users, Scores(items, bias, target))
    assert not loss.requires_grad
    assert loss.item() == pytest.approx(unlikelihood(users, Scores(items, bias, target)).item(), rel=1e-6)


def test_no_rows_score_zero_without_error():
    users, items, bias, target, _ = problem()
    loss = cross_entropy(users[:0], Scores(items, bias, target[:0]), torch.ones(0))
    assert loss.item() == 0.0


def masked_problem():
    """Row r leaves out masked[r]'s columns (-1: none); row 5 masks nothing, row 6 a column twice."""
    masked = torch.tensor([[1, 2, -1], [0, -1, -1], [9, 7, 6], [-1, -1, -1], [2, 3, 4], [-1, -1, -1], [1, 1, 9]])
    return (*problem(offset=True), masked)


@pytest.mark.parametrize("kind", ["cross-entropy", "unlikelihood"])
def test_masked_columns_leave_each_rows_softmax_as_torchs_masked_loss(block, kind):
    users, items, bias, target, off, masked = masked_problem()
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25])
    scores = Scores(items, bias, target, off, masked)
    rows = torch.arange(7)[:, None].expand_as(masked)
    hide = torch.zeros(7, len(items), dtype=torch.bool)
    hide[rows[masked >= 0], masked[masked >= 0]] = True
    matrix = reference_matrix(users, items, bias, target, off).masked_fill(hide, float("-inf"))
    loss = (lambda s: cross_entropy(users, s, weight)) if kind == "cross-entropy" else \
        (lambda s: unlikelihood(users, s))
    got = loss(scores)
    if kind == "cross-entropy":
        want = (F.cross_entropy(matrix, target, reduction="none") * weight).sum() / weight.sum()
    else:
        want = -torch.log1p(-torch.softmax(matrix, 1)[torch.arange(7), target]).mean()
    torch.testing.assert_close(got, want)
    assert abs(got.item() - loss(Scores(items, bias, target, off)).item()) > 1e-3  # the mask changed the loss
    for g, w in zip(grads(got, users, items, bias), grads(want, users, items, bias)):
        torch.testing.assert_close(g, w)


def test_a_column_masked_in_every_row_gets_no_gradient():
    users, items, bias, target, _ = problem()
    masked = torch.tensor([[6]] * 7)  # no row's target is column 6
    g_items, g_bias = grads(cross_entropy(users, Scores(items, bias, target, masked=masked), torch.ones(7)), items,
                            bias)
    assert g_items[6].abs().sum() == 0 and g_bias[6] == 0 and g_items[7].abs().sum() > 0


def test_rows_selects_the_masks_of_those_rows():
    *_, masked = masked_problem()
    users, items, bias, target, off = problem(offset=True)
    some = Scores(items, bias, target, off, masked).rows(torch.tensor([False, True, False, False, True, False, False]))
    assert some.masked.tolist() == [[0, -1, -1], [2, 3, 4]]
