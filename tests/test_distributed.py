"""The Ray backend (recsys/distributed.py): the sharded step's arithmetic (fast, no Ray), and a real round on a
local 2-worker Ray cluster through the CLI against the single-process round on the same data and seed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.config import TrainConfig
from recsys.losses import sampled_columns
from recsys.sequences import Examples
from recsys.step import Shard, StepLoss, batch_totals, train_step
from recsys.trainer import build_model

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS, HISTORY, BATCH = 40, 5, 24


class GradientTap:
    """An optimiser stand-in that keeps the gradients of each step instead of applying them."""

    def __init__(self, params) -> None:
        self.params, self.grads = list(params), []

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.grads.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in self.params])


@pytest.fixture
def one_process_group(tmp_path):
    """A real (one-member) gloo process group: train_step all-reduces each shard's loss through it."""
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _step_setup(kind: str, softmax_items: int, text_loss_rows: int = 0):
    rng = np.random.default_rng(5)
    text = rng.normal(size=(N_ITEMS, 12)).astype(np.float32)
    # fp32: this checks the shards' arithmetic; under bf16 autocast (CPUs with native bf16) each shard's smaller
    # matmuls round differently from the whole batch's (gradients differed by up to 1e-2 there)
    config = TrainConfig(kind=kind, dim=8, max_history=HISTORY, attention_dropout=0.0, history_dropout=0.4,
                         softmax_items=softmax_items, feedback_weight=2.0, attention_heads=1, precision="fp32",
                         text_loss_rows=text_loss_rows, batch_size=BATCH)  # by scale (-1): ceil(24 x 16 / 40) = 10
    seen = np.arange(N_ITEMS) % 7 != 0  # some items never seen in training: their ID-aware scores are -inf
    model = build_model(text, seen, config)
    model.target_counts = rng.integers(1, 20, N_ITEMS).astype(np.float64)
    history = rng.integers(0, N_ITEMS + 1, (BATCH, HISTORY))
    if kind == "attention":  # windows: a target per step, some padding, some disliked steps (weight < 0)
        target = np.where(rng.random((BATCH, HISTORY)) < 0.2, N_ITEMS, rng.choice(np.flatnonzero(seen), (BATCH, HISTORY)))
        weight = np.where(rng.random((BATCH, HISTORY)) < 0.15, -1.0, rng.uniform(0.5, 3, (BATCH, HISTORY)))
        weight = np.where(target == N_ITEMS, 0.0, weight).astype(np.float32)
    else:
        target = rng.choice(np.flatnonzero(seen), BATCH)
        weight = rng.uniform(0.5, 3, BATCH).astype(np.float32)
    examples = Examples(history, target, weight)
    downs = Examples(rng.integers(0, N_ITEMS + 1, (6, HISTORY)), rng.integers(0, N_ITEMS, 6), np.full(6, 2.0, np.float32))
    no_dislikes = Examples(np.zeros((0, HISTORY), np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    return model, config, examples, (downs, no_dislikes)


@pytest.mark.parametrize("kind,softmax_items,rows,text_loss_rows",
                         [("history", 2048, BATCH, 0), ("history", 16, BATCH, 0), ("attention", 2048, BATCH, 0),
                          ("attention", 16, BATCH, 0), ("history", 2048, 1, 0), ("attention", 16, 1, 0),
                          ("history", 2048, BATCH, 5), ("attention", 16, BATCH, 7), ("history", 16, BATCH, -1)])
def test_two_shards_of_a_step_give_the_single_process_gradient_and_loss(one_process_group, kind, softmax_items, rows,
                                                                        text_loss_rows):
    """Each worker scores its half of the batch (history dropout and sampled columns drawn for the whole batch);
    DDP averages the two gradients: that mean is the one-process gradient, and the all-reduced losses sum to its
    loss. softmax_items 16 < 40 items: the sampled softmax, whose columns come from the whole batch's targets.
    rows 1: the second worker's share is empty (an epoch's last batch can be that small). text_loss_rows: the
    text-only loss's rows are drawn for the whole batch too, and each shard weighs them by the batch's odds."""
    model, config, examples, downs = _step_setup(kind, softmax_items, text_loss_rows)
    batch = np.arange(rows)
    tap = GradientTap(model.parameters())
    single = train_step(StepLoss(model), tap, examples, batch, downs, config, "cpu", np.random.default_rng(9))
    parts = [train_step(StepLoss(model), tap, examples, batch, downs, config, "cpu", np.random.default_rng(9),
                        Shard(rank, 2, wrap=lambda m: m)) for rank in (0, 1)]
    reference, first, second = tap.grads
    assert len(reference) == len(list(model.parameters())) > 3
    for ref, a, b in zip(reference, first, second):
        torch.testing.assert_close((a + b) / 2, ref, rtol=1e-4, atol=1e-6)
    assert np.isfinite(single) and sum(parts) == pytest.approx(single, rel=1e-5)
    assert any(float(g.abs().sum()) > 0 for g in reference)


def test_workers_take_rank_0s_stop_decision_and_its_cancel(one_process_group):
    """trainer.Agreement: the stop reason goes through the broadcast; rank 0's cancel flag ends every worker."""
    import threading

    from recsys.events import Cancelled
    from recsys.loop_hooks import Agreement, LoopState
    state = LoopState(model=torch.nn.Linear(2, 1), stop="time budget")
    cancel = threading.Event()
    agreement = Agreement(Shard(0, 1, wrap=lambda m: m), cancel)
    agreement.after_check(state)
    assert state.stop == "time budget"
    state.stop = ""
    agreement.after_check(state)
    assert state.stop == ""
    state.stop = "race"
    agreement.after_check(state)
    assert state.stop == "race"
    state.stop = ""
    cancel.set()
    with pytest.raises(Cancelled):
        agreement.after_check(state)


def test_batch_totals_count_only_real_rows():
    target = np.array([[1, 2, 9], [3, 9, 9]])  # 9 = padding
    weight = np.array([[1.5, -1.0, 0.0], [2.0, 0.0, 0.0]], np.float32)
    totals = batch_totals(target, weight, pad=9, world=2)
    assert (totals.liked, totals.disliked, totals.world) == (3.5, 1, 2)
    assert totals.targets.tolist() == [1, 2, 3]


def test_a_shards_sampled_columns_are_the_whole_batchs():
    counts = np.arange(1, 101, dtype=np.float64)
    whole = torch.tensor([5, 17, 17, 80, 3, 42])
    cand, cols, corr = sampled_columns(whole, counts, 10, np.random.default_rng(1))
    share = whole[3:]
    cand_s, cols_s, corr_s = sampled_columns(share, counts, 10, np.random.default_rng(1), pool=whole)
    assert torch.equal(cand, cand_s)
    assert torch.equal(cols[3:], cols_s)
    assert torch.equal(cand_s[cols_s], share)
    torch.testing.assert_close(corr, corr_s)


# --- a real round on a local 2-worker Ray cluster --------------------------------------------------------------

def _cli(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "recsys", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_a_ray_round_matches_the_single_process_round(tmp_path):
    """`train --backend ray` on a local cluster: the catalog is encoded by a Ray Data job and the model trained by
    two Ray Train workers (DDP); leave-last-out NDCG@10 equals the single-process round's within 0.003."""
    pytest.importorskip("ray")
    from recsys.bench_backends import leave_last_out, list_ndcg
    from recsys.demo import write_demo
    log, items = write_demo(tmp_path / "data", n_items=600, n_users=250, seed=3)  # > 512: a Ray Data job
    held = leave_last_out(log, tmp_path / "train.csv")
    assert len(held) == 250
    scores, outputs = {}, {}
    for backend in ("local", "ray"):
        ws = tmp_path / backend
        outputs[backend] = _cli("train", "--workspace", ws, "--interactions", tmp_path / "train.csv", "--items", items,
                                "--kind", "history", "--backend", backend).stderr
        _cli("recommend", "--workspace", ws, "--all-users", "-k", 10, "--version", "v0001",  # active or not
             "--out", tmp_path / f"{backend}.csv")
        scores[backend] = list_ndcg(pd.read_csv(tmp_path / f"{backend}.csv", dtype=str).astype({"rank": int}), held)
    assert "encoding item texts on Ray (2 actors)" in outputs["ray"]
    assert "on Ray" not in outputs["local"]
    assert "training on Ray: 2 workers on CPU (DDP)" in outputs["ray"]
    relayed = outputs["ray"].split("training on Ray")[1]  # rank 0's progress, relayed while the workers train
    assert "[validate]" in relayed and "validation NDCG@10" in relayed and "Ray workers done" in relayed
    assert scores["local"] > 0.05  # a model that learned something (the untuned one is far lower)
    assert abs(scores["ray"] - scores["local"]) <= 0.003, scores
    saved = sorted((tmp_path / "ray").rglob("config.json"))
    assert any('"backend": "ray"' in p.read_text() for p in saved)


def test_the_ray_backend_without_ray_is_a_clear_error(monkeypatch):
    """Ray is an optional extra: asking for it where it is not installed names the requirements file."""
    import builtins

    from recsys.distributed import ray_module
    from recsys.errors import RecTuneError
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(RecTuneError, match="requirements-ray.txt"):
        ray_module()


def test_a_workers_fit_comes_back_whole_with_its_validation_curve(tmp_path):
    from recsys.distributed import _read_fit, _write_fit
    from recsys.loop_hooks import Check
    from recsys.trainer import FitResult
    from tests.test_kinds import T1_FIRST
    curve = (Check(1.0, 0.1, (0.2, 0.0)), Check(2.0, 0.25, (0.5, 0.0)))
    fit = FitResult(T1_FIRST, 3.0, 0.25, 90, 1e3, (2.5, 2.0), "race", ("u1", "u2"), "attention", "",
                    {"min_rating": 2.0}, curve)
    _write_fit(tmp_path, fit)
    back = _read_fit(tmp_path)
    assert back.curve == curve
    assert (back.stopped_by, back.losses, back.val_users, back.positives) == ("race", (2.5, 2.0), ("u1", "u2"),
                                                                              {"min_rating": 2.0})
    np.testing.assert_array_equal(back.model.item_bias, T1_FIRST.item_bias)
