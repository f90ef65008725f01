"""The training loop of the default model (a minGPT-style loop: all extension goes through callbacks)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.model import ServingModel, build_torch_model
from recsys.training import (
    Callback,
    Cancelled,
    Examples,
    TrainConfig,
    TrainEvent,
    build_training_examples,
    emit,
    history_rows,
    user_sequences,
    validation_ndcg,
)

MIN_STEPS_EPOCHS = 100  # cap on the no-early-stop floor, in epochs


@dataclass(frozen=True)
class FitResult:
    model: ServingModel
    epochs: float
    best_val_ndcg: float
    examples: int
    examples_per_s: float
    losses: tuple[float, ...]


def keep_freed_memory() -> None:
    """glibc returns each freed (batch x n_items) buffer to the OS and faults it back in on the next step:
    two thirds of training time was page faults. Raising the mmap/trim thresholds keeps it (2x faster)."""
    import ctypes
    import sys
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            pass


def feedback_examples(feedback: pd.DataFrame, sequences: dict[str, np.ndarray], item_ids: np.ndarray,
                      config: TrainConfig) -> tuple[Examples, Examples]:
    """Thumbs as training signal: ups -> (history -> item) positives; downs -> (history, item) to push down.
    feedback: the ledger's current labels (user_id, item_id, label)."""
    n_items = len(item_ids)
    index = pd.Index(item_ids)
    out = []
    for label in ("up", "down"):
        rows = feedback[feedback["label"] == label]
        items = index.get_indexer(rows["item_id"].astype(str))
        rows, items = rows[items >= 0], items[items >= 0]
        history = history_rows(sequences, rows["user_id"].astype(str).tolist(), config.max_history, n_items)
        out.append(Examples(history, items.astype(np.int64), np.full(len(items), config.feedback_weight, np.float32)))
    return out[0], out[1]


def fit_adapter(text: np.ndarray, item_ids: np.ndarray, train: pd.DataFrame, feedback: pd.DataFrame,
                config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None) -> FitResult:
    """Train on `train` (+ feedback); text: (n_items, text_dim) frozen embeddings in item_ids order."""
    import torch

    from recsys.encoder import pick_device
    keep_freed_memory()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device()
    sequences = user_sequences(train, item_ids)
    candidates = [u for u, s in sequences.items() if len(s) >= 4]
    val_users = sorted(rng.choice(candidates, size=min(config.val_users, len(candidates)), replace=False).tolist())
    examples = build_training_examples(sequences, config.max_history, len(item_ids), set(val_users))
    ups, downs = feedback_examples(feedback, sequences, item_ids, config)
    examples = _concat(examples, ups)
    seen = np.zeros(len(item_ids), dtype=bool)
    seen[examples.target] = True
    model = build_torch_model(text.astype(np.float32), seen, config.dim, config.max_history, config.use_item_ids).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = _LoopState(best=-1.0, best_state=None, bad=0, losses=[])
    steps_per_epoch = max(1, -(-len(examples.target) // config.batch_size))
    # On a small data set an epoch is a handful of steps: check at most every `check_every_steps`, and never
    # stop early before `min_steps`, so the item vectors get to learn before validation can end the run.
    # On a tiny data set (an epoch of one step) 600 steps would be 600 epochs: the floor is at most 100 epochs.
    min_steps = min(config.min_steps, MIN_STEPS_EPOCHS * steps_per_epoch)
    check_every = max(steps_per_epoch, config.check_every_steps)
    total = max(steps_per_epoch * config.epochs, min_steps)
    started = time.perf_counter()
    batches = _batches(len(examples.target), config.batch_size, rng)
    for step in range(1, total + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        loss = _step(model, optim, examples, next(batches), downs, config, device, rng)
        state.losses.append(loss)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at step {step}; lower the learning rate.")
        emit(callbacks, TrainEvent("train", step, total, loss))
        out_of_time = time.perf_counter() - started > config.max_seconds
        if step % check_every and step != total and not out_of_time:
            continue
        if val_users:  # without validation users the last step wins
            val = validation_ndcg(model, sequences, val_users, config.max_history)
            emit(callbacks, TrainEvent("validate", step, total, None,
                                        f"epoch {step / steps_per_epoch:.1f}: validation NDCG@10 {val:.4f}"))
            if not state.update(val, model, config.patience) and step >= min_steps:
                break
        if out_of_time:
            emit(callbacks, TrainEvent("train", total, total, None, "time budget reached; keeping the best check"))
            break
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    elapsed = time.perf_counter() - started
    n_done = len(state.losses) * config.batch_size
    epochs = round(len(state.losses) / steps_per_epoch, 2)
    return FitResult(model.to_serving(item_ids), epochs, state.best, len(examples.target), n_done / elapsed,
                     tuple(state.losses))


@dataclass
class _LoopState:
    best: float
    best_state: dict | None
    bad: int
    losses: list

    def update(self, val: float, model, patience: int) -> bool:
        """Keep the best weights; False once validation has not improved for `patience` epochs."""
        if val > self.best:
            self.best, self.bad = val, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return True
        self.bad += 1
        return self.bad < patience


def _batches(n: int, batch_size: int, rng):
    """Endless minibatches of example indices, a fresh shuffle each pass."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]


def _step(model, optim, ex: Examples, batch: np.ndarray, downs: Examples, config: TrainConfig, device, rng) -> float:
    import torch
    import torch.nn.functional as F
    history = torch.from_numpy(drop_history(ex.history[batch], config.history_dropout, model.text.shape[0], rng))
    history = history.to(device)
    target = torch.from_numpy(ex.target[batch]).to(device)
    weight = torch.from_numpy(ex.weight[batch]).to(device)
    with _autocast(device, config):
        full, text_only = model.both_logits(model.users(history))
        loss = (F.cross_entropy(full.float(), target, reduction="none") * weight).sum() / weight.sum()
        if config.text_loss_weight > 0:
            text_ce = F.cross_entropy(text_only.float(), target, reduction="none")
            loss = loss + config.text_loss_weight * (text_ce * weight).sum() / weight.sum()
        if len(downs.target):
            loss = loss + _down_loss(model, downs, config, device, rng)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return float(loss.detach())


def drop_history(history: np.ndarray, p: float, pad: int, rng) -> np.ndarray:
    """Each history slot becomes padding with probability p (training only): the model must rank from
    partial histories, so it memorises fewer exact co-occurrences."""
    if p <= 0:
        return history
    return np.where(rng.random(history.shape) < p, pad, history)


def _autocast(device: str, config: TrainConfig):
    """bf16 matmuls where the hardware has them (CUDA, or CPUs with AVX512-BF16/AMX); fp32 elsewhere."""
    import torch

    from recsys.encoder import cpu_has_bf16
    enabled = config.precision != "fp32" and (device == "cuda" or (device == "cpu" and cpu_has_bf16()))
    return torch.autocast("cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16, enabled=enabled)


def _down_loss(model, downs: Examples, config: TrainConfig, device, rng):
    """Unlikelihood of thumbs-down items: -log(1 - p(item | user)), so the model itself learns to keep them
    out of the list (the serving filter hides them regardless)."""
    import torch
    pick = rng.choice(len(downs.target), size=min(256, len(downs.target)), replace=False)
    history = torch.from_numpy(downs.history[pick]).to(device)
    down = torch.from_numpy(downs.target[pick]).to(device)
    probs = torch.softmax(model.logits(model.users(history)).float(), dim=1)  # (b, n_items)
    p_down = probs.gather(1, down[:, None]).squeeze(1).clamp(max=1 - 1e-6)
    return config.feedback_weight * -torch.log1p(-p_down).mean()


def _concat(a: Examples, b: Examples) -> Examples:
    return Examples(np.concatenate([a.history, b.history]), np.concatenate([a.target, b.target]),
                    np.concatenate([a.weight, b.weight]))

