"""The training loop's hooks, minGPT-style: the loop (trainer.py) only steps; cancellation, progress, the time
budget, validation with early stopping, `auto`'s race between the kinds and the data-parallel workers' agreement
are small objects that read and steer its state (LoopState)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from recsys.config import TrainConfig
from recsys.events import Callback, Cancelled, TrainEvent, emit
from recsys.metrics import ndcg_gains
from recsys.model import ItemTower
from recsys.ranking import seen_cells, target_ranks
from recsys.sequences import history_rows
from recsys.step import Shard

VALIDATION_CHUNK = 256  # validation users scored at a time


@dataclass(frozen=True)
class Check:
    """One validation check: the epoch, NDCG@10 over the validation users, and each user's gain (in the order of
    FitResult.val_users), so that two models checked on the same users compare pair by pair."""

    epoch: float
    ndcg: float
    gains: tuple[float, ...] = ()


@dataclass
class LoopState:
    """What the callbacks see and steer: the step just taken, and whether to stop."""

    model: ItemTower
    step: int = 0
    total: int = 0
    steps_per_epoch: int = 1
    losses: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    out_of_time: bool = False
    stop: str = ""  # why the loop stops after this step ("" = go on)


class CancelCheck:
    """Before each step: raise Cancelled once the event is set (the previous model stays active)."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel

    def before_step(self, state: LoopState) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()


class Progress:
    """After each step: a 'train' event with its loss; a non-finite loss ends training with a clear error."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def after_step(self, state: LoopState) -> None:
        loss = state.losses[-1]
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at step {state.step}; lower the learning rate.")
        emit(self.callbacks, TrainEvent("train", state.step, state.total, loss))


class TimeBudget:
    """Marks the state once the loop has run longer than `seconds`; the loop then validates once and stops."""

    def __init__(self, seconds: float, callbacks: list[Callback]) -> None:
        self.seconds, self.callbacks = seconds, callbacks

    def after_step(self, state: LoopState) -> None:
        state.out_of_time = time.perf_counter() - state.started > self.seconds

    def after_check(self, state: LoopState) -> None:
        if state.out_of_time and not state.stop:
            emit(self.callbacks, TrainEvent("train", state.total, state.total, None,
                                            f"time budget of {self.seconds:.0f} s reached at epoch "
                                            f"{state.step / state.steps_per_epoch:.1f}: training was cut short, "
                                            "keeping the best check"))
            state.stop = "time budget"


class WeightAverage:
    """An exponential moving average of the weights over about `epochs` epochs of steps (Polyak & Juditsky 1992),
    which validation and the saved model use: the raw weights at the best check had also fitted that check's
    noise. Updated every `every` steps with that many steps' decay, at least ~50 times per horizon, so that a large
    catalog's tables (which every update reads and writes) cost a few percent of the steps."""

    def __init__(self, model: torch.nn.Module, epochs: float, steps_per_epoch: int) -> None:
        horizon = max(1.0, epochs * steps_per_epoch)
        self.every = max(1, int(horizon // 50))
        self.weight = 1.0 - (1.0 - 1.0 / horizon) ** self.every  # of the current weights at each update
        self.params = [p.detach().clone() for p in model.parameters()]

    def after_step(self, state: LoopState) -> None:
        if state.step % self.every == 0:  # until the horizon is full, a plain mean of the updates so far: the
            weight = max(self.weight, self.every / state.step)  # starting weights count once, then fade
            with torch.no_grad():
                for mean, param in zip(self.params, state.model.parameters()):
                    mean.lerp_(param.detach(), weight)

    @contextmanager
    def swapped_in(self, model: torch.nn.Module) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own again after it."""
        self.swap(model)
        try:
            yield
        finally:
            self.swap(model)

    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the model's weights with the averaged ones."""
        with torch.no_grad():
            for mean, param in zip(self.params, model.parameters()):
                live = param.detach().clone()
                param.copy_(mean)
                mean.copy_(live)


class EarlyStopping:
    """Validation NDCG@10 on held-out last items at each check point (of the averaged weights, if any); keeps the
    best weights and stops once `patience` checks in a row have not improved (never before `min_steps`)."""

    def __init__(self, sequences: dict[str, np.ndarray], val_users: list[str], config: TrainConfig, min_steps: int,
                 check_every: int, callbacks: list[Callback], average: WeightAverage | None = None) -> None:
        self.sequences, self.val_users, self.config = sequences, val_users, config
        self.min_steps, self.check_every, self.callbacks = min_steps, check_every, callbacks
        self.average = average
        self.best, self.best_state, self.bad = -1.0, None, 0
        self.curve: list[Check] = []
        self.best_check: Check | None = None
        self.checked = 0  # the step of the last check

    def after_step(self, state: LoopState) -> None:
        due = state.step % self.check_every == 0 or state.step == state.total or state.out_of_time
        if not due or not self.val_users:  # without validation users the last step wins
            return
        state.model.eval()
        with self.average.swapped_in(state.model) if self.average else nullcontext():
            gains = validation_gains(state.model, self.sequences, self.val_users, self.config.max_history)
            improved = self._improved(self._record(state, gains), state.model)
        state.model.train()
        if not improved and state.step >= self.min_steps:
            state.stop = "early stopping"

    def _record(self, state: LoopState, gains: np.ndarray) -> float:
        """The check in the curve and as an event; returns its NDCG."""
        val = float(gains.sum() / max(len(gains), 1))
        check = Check(round(state.step / state.steps_per_epoch, 3), val, tuple(gains.tolist()))
        self.curve.append(check)
        self.checked = state.step
        emit(self.callbacks, TrainEvent("validate", state.step, state.total, None,
                                        f"epoch {check.epoch:.1f}: validation NDCG@10 {val:.4f}", val,
                                        self.config.kind))
        if val > self.best:
            self.best_check = check
        return val

    def _improved(self, val: float, model: ItemTower) -> bool:
        """Keep the best weights; False once validation has not improved for `patience` checks."""
        if val > self.best:
            self.best, self.bad = val, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return True
        self.bad += 1
        return self.bad < self.config.patience

    def restore_best(self, model: ItemTower) -> None:
        """The best check's weights; without validation users, the last step's (averaged, if averaging)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        elif self.average is not None:
            self.average.swap(model)


class Race:
    """`auto`'s race between the kinds, after successive halving (Jamieson & Talwalkar 2016): once this model has
    trained a third of the epochs its rival took to reach its best, and at least one pass over its examples
    (a large log is checked within its epochs), it stops at the first check where its best
    so far is behind the rival's best by the same epoch by more than the noise (one standard error of the
    per-user differences on the same validation users, the margin kinds.choose uses). Behind at an equal budget,
    it would cost the rest of the round to lose."""

    def __init__(self, rival: tuple[Check, ...], stopper: EarlyStopping, callbacks: list[Callback]):
        self.rival, self.stopper, self.callbacks = rival, stopper, callbacks
        self.start = max(1.0, max(rival, key=lambda check: check.ndcg).epoch / 3) if rival else float("inf")

    def after_step(self, state: LoopState) -> None:
        mine = self.stopper.best_check
        if state.stop or self.stopper.checked != state.step or mine is None:
            return
        epoch = self.stopper.curve[-1].epoch
        earlier = [check for check in self.rival if check.epoch <= epoch + 1e-9]
        if epoch < self.start or not earlier:
            return
        rival = max(earlier, key=lambda check: check.ndcg)
        behind, noise = paired_gap(rival, mine)
        if behind > noise:
            state.stop = "race"
            emit(self.callbacks, TrainEvent("train", state.step, state.total, None,
                                            f"stopped at epoch {epoch:.1f}: best validation {mine.ndcg:.4f}, behind "
                                            f"the other model's {rival.ndcg:.4f} by the same epoch by more than "
                                            f"the noise (±{noise:.4f})"))


def paired_gap(ahead: Check, behind: Check) -> tuple[float, float]:
    """(mean of ahead - behind over the same users, one standard error of it); by the means alone when the
    checks hold no per-user gains to pair."""
    if len(ahead.gains) != len(behind.gains) or len(ahead.gains) < 2:
        return ahead.ndcg - behind.ndcg, 0.0
    diff = np.asarray(ahead.gains) - np.asarray(behind.gains)
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


class Agreement:
    """Last, after each step of data-parallel training: every worker takes rank 0's stop decision (early stopping,
    time budget, or its cancel flag), so none leaves the loop while another waits in the next step's all-reduce
    (each worker's clock, and near-tie validations on different hardware, may disagree)."""

    DECISIONS = ("", "early stopping", "time budget", "cancelled", "race")

    def __init__(self, shard: Shard, cancel) -> None:
        self.shard, self.cancel = shard, cancel

    def after_check(self, state: LoopState) -> None:
        code = self.DECISIONS.index(state.stop) if state.stop in self.DECISIONS else 1
        if self.shard.rank == 0 and self.cancel is not None and self.cancel.is_set():
            code = self.DECISIONS.index("cancelled")
        word = torch.tensor([code], dtype=torch.int64, device=next(state.model.parameters()).device)  # NCCL: on GPU
        torch.distributed.broadcast(word, src=0)
        state.stop = self.DECISIONS[int(word[0])]
        if state.stop == "cancelled":
            raise Cancelled()


def validation_gains(model: ItemTower, sequences: dict[str, np.ndarray], users: list[str], max_history: int,
                     k=10) -> np.ndarray:
    """Each validation user's NDCG@k of their last training item, the rest of their history excluded."""
    history = history_rows(sequences, users, max_history, model.n_items, drop_last=True)
    targets = np.array([int(sequences[u][-1]) for u in users], dtype=np.int64)
    positions = np.zeros(0, dtype=np.int64)
    with torch.no_grad():  # the item table once per check, not per chunk (at 250,000 items ~0.2 s each)
        table = model.score_table()
    for start in range(0, len(users), VALIDATION_CHUNK):  # (chunk x n_items) scores at a time: large catalogs fit
        chunk = slice(start, start + VALIDATION_CHUNK)
        rows = torch.from_numpy(history[chunk]).to(model.text.device)
        with torch.no_grad():
            scores = model.logits(model.users(rows), table=table).float().cpu().numpy()
        seen = seen_cells([sequences[u][:-1] for u in users[chunk]])
        positions = np.concatenate([positions, target_ranks(scores, targets[chunk], exclude=seen)])
    return ndcg_gains(positions, k)
