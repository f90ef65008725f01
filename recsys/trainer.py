"""The training loop of the default model, minGPT-style: the loop only steps; progress, cancellation,
validation with early stopping, the time budget and `auto`'s race are small hooks (loop_hooks.py) that read and
steer its state."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from recsys.config import TrainConfig
from recsys.devices import deterministic, keep_freed_memory, pick_device
from recsys.events import Callback
from recsys.loop_hooks import (
    Agreement,
    CancelCheck,
    Check,
    EarlyStopping,
    LoopState,
    Progress,
    Race,
    TimeBudget,
    WeightAverage,
)
from recsys.model import HistoryModel, ItemTower
from recsys.neighbours import NeighbourFit, place_new_items
from recsys.positives import rule_from_config
from recsys.sequences import (
    Examples,
    as_windows,
    build_training_examples,
    build_windows,
    concat_examples,
    dislike_examples,
    history_rows,
    user_sequences,
    user_values,
)
from recsys.serving import ServingModel
from recsys.softmax import text_row_count
from recsys.spectrum import item_spectrum
from recsys.step import Shard, StepLoss, lazy_ids, make_optimiser, train_step

MIN_STEPS_EPOCHS = 100  # cap on the no-early-stop floor, in epochs


@dataclass(frozen=True)
class FitResult:
    model: ServingModel
    epochs: float
    best_val_ndcg: float
    examples: int
    examples_per_s: float
    losses: tuple[float, ...]
    stopped_by: str = "epochs"  # "epochs" | "early stopping" | "time budget"
    val_users: tuple[str, ...] = ()  # whose last training item was held out for validation
    kind: str = ""  # the model kind trained ("history" | "attention")
    kind_reason: str = ""  # why that kind (kinds.fit_model)
    positives: dict = field(default_factory=dict)  # the positives rule used (PositiveRule fields)
    curve: tuple[Check, ...] = ()  # every validation check, in order
    new_items: dict = field(default_factory=dict)  # how never-trained items were placed (neighbours.NeighbourFit)
    kind_seconds: dict = field(default_factory=dict)  # wall seconds each kind took to train (kinds.fit_model)
    text_rows: int = 0  # the targets per step the text-only loss was on (0: every one; softmax.text_row_count)


def feedback_examples(feedback: pd.DataFrame, sequences: dict[str, np.ndarray], item_ids: np.ndarray,
                      config: TrainConfig) -> tuple[Examples, Examples]:
    """Thumbs as training signal: ups -> (history -> item) positives; downs -> (history, item) to push down.
    feedback: the ledger's current labels (user_id, item_id, label)."""
    n_items = len(item_ids)
    index = pd.Index(item_ids)
    out = []
    for label in ("up", "down"):  # feedback_weight 0: thumbs teach nothing (they still act at serving time)
        rows = feedback[(feedback["label"] == label) & (config.feedback_weight > 0)]
        items = index.get_indexer(rows["item_id"].astype(str))
        rows, items = rows[items >= 0], items[items >= 0]
        history = history_rows(sequences, rows["user_id"].astype(str).tolist(), config.max_history, n_items)
        out.append(Examples(history, items.astype(np.int64), np.full(len(items), config.feedback_weight, np.float32)))
    return out[0], out[1]


def fit_adapter(text: np.ndarray, item_ids: np.ndarray, train: pd.DataFrame, feedback: pd.DataFrame,
                config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None,
                shard: Shard | None = None, rival: tuple[Check, ...] = ()) -> FitResult:
    """Train on `train` (+ feedback); text: (n_items, text_dim) frozen embeddings in item_ids order.
    shard: this is one of several data-parallel workers (distributed.py runs them on Ray Train).
    rival: another model's validation curve on the same users, to race against (Race)."""
    keep_freed_memory()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device()
    rule = rule_from_config(config.positives, train)
    weight, disliked = rule.weights(train)
    train = train.assign(weight=weight, disliked=disliked)
    sequences = user_sequences(train, item_ids)
    weights, disliked = user_values(train, "weight"), user_values(train, "disliked")
    val_users = _validation_users(sequences, weights, config, rng)
    weights, dislikes = _dislikes(sequences, weights, disliked, config, len(item_ids))
    examples, downs = training_examples(sequences, weights, feedback, item_ids, val_users, config)
    seen = np.zeros(len(item_ids) + 1, dtype=bool)
    seen[examples.target[examples.weight > 0]] = True
    counts = target_counts(examples, len(item_ids))
    model = build_model(text.astype(np.float32), seen[:-1], config, lazy_ids(counts, config, shard, device),
                        _id_start(sequences, weights, val_users, len(item_ids), config)).to(device)
    model.target_counts = counts
    model.train()
    state, stopper, hooks = _loop_setup(model, len(examples.target), _batch_rows(config, examples), sequences, val_users,
                                        config, callbacks, cancel, shard, rival)
    step = StepLoss(model) if shard is None else shard.wrap(StepLoss(model))
    with deterministic():
        _run_loop(state, hooks, step, examples, (downs, dislikes), config, device, rng, shard)
    stopper.restore_best(model)
    model.eval()
    elapsed = time.perf_counter() - state.started
    targets = int(((examples.target != len(item_ids)) & (examples.weight > 0)).sum())
    epochs = len(state.losses) / state.steps_per_epoch
    served, placed = _place_new_items(model.to_serving(item_ids), text, seen[:-1], train, feedback,
                                      (examples.history, downs.history, dislikes.history), counts, config, shard)
    return FitResult(served, round(epochs, 2), stopper.best, targets, epochs * targets / elapsed,
                     tuple(state.losses), state.stop or "epochs", tuple(val_users), config.kind, "", rule.to_dict(),
                     tuple(stopper.curve), placed.to_dict(), text_rows=text_row_count(model, config))


def _id_start(sequences: dict[str, np.ndarray], weights: dict[str, np.ndarray], val_users: list[str], n_items: int,
              config: TrainConfig) -> np.ndarray | None:
    """Where the ID vectors start (spectrum.py), validation's held-out items left out; None: at zero."""
    if config.spectral_rank <= 0 or not config.use_item_ids:
        return None
    return item_spectrum(sequences, weights, val_users, n_items, min(config.spectral_rank, config.dim))


def _unliked(train: pd.DataFrame, feedback: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """Items with interactions or thumbs but no positive one (e.g. only low ratings, only thumbs-down): known, not
    new, so they borrow no taste from liked neighbours."""
    index = pd.Index(item_ids)
    rows = index.get_indexer(train["item_id"].astype(str))
    downs = index.get_indexer(feedback.loc[feedback["label"] == "down", "item_id"].astype(str))
    touched = np.zeros(len(item_ids), dtype=bool)
    touched[rows[rows >= 0]] = touched[downs[downs >= 0]] = True
    liked = np.zeros(len(item_ids), dtype=bool)
    liked[rows[(rows >= 0) & (train["weight"].to_numpy() > 0)]] = True
    return touched & ~liked


def _place_new_items(model: ServingModel, text: np.ndarray, seen: np.ndarray, train: pd.DataFrame,
                     feedback: pd.DataFrame, histories: tuple[np.ndarray, ...], counts: np.ndarray,
                     config: TrainConfig, shard: Shard | None) -> tuple[ServingModel, NeighbourFit]:
    """Items training left without a learned residual, placed from their text neighbours (neighbours.py): never a
    positive target (no out residual of their own) or in no training history (no in residual of their own), and
    not known as unliked. With shared ID parts such a side has moved through the other role's learning; it is
    placed all the same, by the neighbours' learned sums (a side the item's own events never trained). The
    neighbours are the items with both residuals learned. (On Ray, only rank 0's model is kept.)"""
    if shard is not None and shard.rank != 0:
        return model, NeighbourFit(0, {}, 0, "")
    if not config.use_item_ids:
        return model, NeighbourFit(0, {}, 0, "new items placed by their text alone (no ID vectors)")
    unliked = _unliked(train, feedback, model.item_ids) & ~seen  # (a thumbs-up makes an item seen)
    in_history = np.zeros(len(seen) + 1, dtype=bool)  # + the padding slot
    for history in histories:
        in_history[history.ravel()] = True
    in_history = in_history[:-1]
    return place_new_items(model, text, seen & in_history, ~seen & ~unliked, ~in_history & ~unliked, counts,
                           config.new_item_neighbours, config.seed)


def _dislikes(sequences: dict[str, np.ndarray], weights: dict[str, np.ndarray], disliked: dict[str, np.ndarray],
              config: TrainConfig, n_items: int) -> tuple[dict[str, np.ndarray], Examples]:
    """(weights, examples to push down) of disliked interactions: the history model pushes each down after the
    items before it; the attention model marks it as a step to push down inside its window (weight < 0)."""
    if config.kind != "attention":
        return weights, dislike_examples(sequences, disliked, config.max_history, n_items)
    weights = {u: np.where(disliked[u], -1.0, w).astype(np.float32) for u, w in weights.items()}
    none = {u: np.zeros(len(d), bool) for u, d in disliked.items()}
    return weights, dislike_examples(sequences, none, config.max_history, n_items)


def build_model(text: np.ndarray, seen: np.ndarray, config: TrainConfig, sparse_ids: bool = False,
                id_start: np.ndarray | None = None) -> ItemTower:
    if config.kind == "attention":
        from recsys.attention import SequenceModel
        return SequenceModel(text, seen, config.dim, config.max_history, config.use_item_ids,
                             config.attention_blocks, config.attention_heads, config.attention_dropout, config.id_init,
                             sparse_ids, config.tied_ids, id_start, config.shared_ids)
    return HistoryModel(text, seen, config.dim, config.max_history, config.use_item_ids, config.id_init, sparse_ids,
                        config.tied_ids, id_start, config.shared_ids)


def target_counts(examples: Examples, n_items: int) -> np.ndarray:
    """How often each item is a training target (its weight summed): the sampled softmax's proposal."""
    real = (examples.target != n_items) & (examples.weight > 0)
    return np.bincount(examples.target[real], weights=examples.weight[real], minlength=n_items)[:n_items]


def training_examples(sequences: dict[str, np.ndarray], weights: dict[str, np.ndarray], feedback: pd.DataFrame,
                      item_ids: np.ndarray, val_users: list[str], config: TrainConfig) -> tuple[Examples, Examples]:
    """(positives incl. thumbs-ups, thumbs-downs) in the form the model kind trains on; weights: per interaction
    (the positives rule), in sequence order."""
    n_items, held = len(item_ids), set(val_users)
    ups, downs = feedback_examples(feedback, sequences, item_ids, config)
    if config.kind == "attention":
        return concat_examples(build_windows(sequences, config.max_history, n_items, held, weights),
                       as_windows(ups, n_items)), downs
    examples = build_training_examples(sequences, config.max_history, n_items, held, weights)
    return concat_examples(examples, ups), downs


def _validation_users(sequences: dict[str, np.ndarray], weights: dict[str, np.ndarray], config: TrainConfig,
                      rng) -> list[str]:
    """Users whose last interaction is held out to stop training: those with >= 4 whose last one is a positive."""
    candidates = [u for u, s in sequences.items() if len(s) >= 4 and weights[u][-1] > 0]
    return sorted(rng.choice(candidates, size=min(config.val_users, len(candidates)), replace=False).tolist())


def _loop_setup(model: ItemTower, n_examples: int, batch_rows: int, sequences, val_users, config: TrainConfig,
                callbacks: list[Callback], cancel, shard: Shard | None, rival=()) -> tuple[LoopState, EarlyStopping, list]:
    """On a small data set an epoch is a handful of steps: check at most every `check_every_examples` targets, and
    never stop early before `min_examples` (at most MIN_STEPS_EPOCHS epochs, at least one pass over them), so item
    vectors get to learn first. On a large one, check at least every `check_examples` targets (a step holds about
    `batch_size` of them): no early stop before every example was seen once.
    Data-parallel workers: only rank 0 validates, and all leave the loop on its word (and its cancel)."""
    if shard is not None:
        val_users, cancel, agreement = (val_users if shard.rank == 0 else []), None, Agreement(shard, cancel)
    steps_per_epoch = max(1, -(-n_examples // batch_rows))
    per_step = config.batch_size  # targets a step holds (an attention step: about as many, _batch_rows)
    min_steps = max(min(-(-config.min_examples // per_step), MIN_STEPS_EPOCHS * steps_per_epoch), steps_per_epoch)
    check_every = max(min(steps_per_epoch, -(-config.check_examples // per_step)),
                      -(-config.check_every_examples // per_step))
    total = max(steps_per_epoch * config.epochs, min_steps)
    state = LoopState(model, total=total, steps_per_epoch=steps_per_epoch)
    average = WeightAverage(model, config.average_epochs, steps_per_epoch) if config.average_epochs > 0 else None
    stopper = EarlyStopping(sequences, val_users, config, min_steps, check_every, list(callbacks), average)
    hooks = [CancelCheck(cancel), Progress(list(callbacks)), stopper, Race(tuple(rival), stopper, list(callbacks))]
    if average is not None:  # before the stopper: a check sees this step's average
        hooks.insert(2, average)
    if config.max_seconds is not None:  # before the stopper: it validates once more when time is up
        hooks.insert(2, TimeBudget(config.max_seconds, list(callbacks)))
    if shard is not None:
        hooks.append(agreement)
    return state, stopper, hooks


def _run_loop(state: LoopState, hooks: list, step_loss: torch.nn.Module, examples: Examples,
              downs: tuple[Examples, Examples], config: TrainConfig, device, rng, shard: Shard | None) -> None:
    optim = make_optimiser(state.model, config)
    batches = batches_of(len(examples.target), _batch_rows(config, examples), rng)
    for step in range(1, state.total + 1):
        state.step = step
        for hook in hooks:
            getattr(hook, "before_step", _nothing)(state)
        state.losses.append(train_step(step_loss, optim, examples, next(batches), downs, config, device, rng, shard))
        for hook in hooks:
            getattr(hook, "after_step", _nothing)(state)
        for hook in hooks:
            getattr(hook, "after_check", _nothing)(state)
        if state.stop:
            break


def _batch_rows(config: TrainConfig, examples: Examples) -> int:
    """Examples per step, so that a step holds about `batch_size` targets: an attention example (a window) holds
    as many as it has steps with a target, which on short histories is far fewer than max_history."""
    if examples.target.ndim == 1:
        return config.batch_size
    per_window = max(1.0, float((examples.weight != 0).sum(axis=1).mean()))
    return max(2, round(config.batch_size / per_window))


def _nothing(state: LoopState) -> None:
    return None


def batches_of(n: int, batch_size: int, rng):
    """Endless minibatches of example indices, a fresh shuffle each pass."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]
