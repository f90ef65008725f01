"""`auto`'s test of an aligned encoder (align.py), free of the first stage's own training: the cold protocol
played inside the training log. A tenth of the items with interactions, drawn by seed, are hidden (the referee's
cold protocol hides 15% of all items the same way): the first stage is
fitted again without any of their interactions (same settings and seed, the kind the round chose), so for that
fit they are new items, placed as the first stage places new items (frozen text, plus what their nearest seen
items learned); an encoder is aligned on that fit; then every time a user's next item in the log was a hidden
item, the fit's user vector of the history before it (hidden items left out, as a cold protocol's training data
has them) ranks all hidden items, placed once by the fit and once by the aligned text. NDCG@10 of the real next
item, per event, paired.

Why not judge on items the first stage trained on: there the user vectors were fitted to those very items'
trained vectors, so whatever lands closer to the trained vectors wins. On ml-latest-small's cold split both such
checks (the distance to the trained vectors, and the same ranking on training events) favoured the aligned text
(+0.006 +- 0.003 and +0.0069 +- 0.0018) while the referee's cold NDCG@10 went 0.0668 -> 0.0626 (per user -0.0030
+- 0.0028). The price: a second first-stage fit and a second alignment."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.events import Callback, TrainEvent, emit
from recsys.serving import ServingModel

HIDE = 0.1  # share of the items with interactions hidden from the second fit
MAX_EVENTS = 5_000  # the most next-item events of hidden items scored (a sample by seed)
MIN_EVENTS = 50  # fewer: the check cannot decide, and `auto` falls back to the distance


def pseudo_cold_check(text: np.ndarray, item_ids: np.ndarray, log: pd.DataFrame, kind: str, texts: list[str],
                      align: Callable[[ServingModel, np.ndarray, int, list[Callback]], object | None],
                      config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None) -> dict:
    """`text`: every item's frozen text vector (rows as `item_ids`, as `texts`); `log`: the interactions the round
    trained on (user_id, item_id, timestamp, row, and rating / event when it has them); `kind`: the first stage's
    model kind; `align(model, counts, k, callbacks)`: an encoder aligned on that model (counts: training
    interactions per item, k: its new items' neighbour count), or None. Progress goes to `callbacks` as stage
    'tune-encoder', without losses or validation values (the round's curves are the round's own fit's).
    Returns the report fields `align_check_*` (events under MIN_EVENTS when there was too little to judge on)."""
    from recsys.kinds import fit_model
    from recsys.positives import rule_from_config
    from recsys.sequences import UserLog, user_values
    seen = pd.Index(item_ids).get_indexer(log["item_id"].astype(str))
    seen = np.flatnonzero(np.bincount(seen[seen >= 0], minlength=len(item_ids)))
    rng = np.random.default_rng(config.seed)
    hidden = np.sort(rng.choice(seen, size=int(HIDE * len(seen)), replace=False))
    callbacks = _as_check(list(callbacks))
    emit(callbacks, TrainEvent("tune-encoder", 0, 1, None, f"the first stage again without {len(hidden)} items' "
                                                           "interactions"))
    hidden_ids = set(item_ids[hidden].tolist())
    shown = log[~log["item_id"].astype(str).isin(hidden_ids)]
    refit_config = replace(config, kind=kind, encoder_tuning="none", rerank="off")
    no_feedback = pd.DataFrame(columns=["user_id", "item_id", "label"])
    fit = fit_model(text, item_ids, shown, no_feedback, refit_config, callbacks, cancel)
    counts = pd.Index(item_ids).get_indexer(shown["item_id"].astype(str))
    counts = np.bincount(counts[counts >= 0], minlength=len(item_ids))
    tuned = align(fit.model, counts, fit.new_items.get("k", 0), callbacks)
    if tuned is None:
        return {"align_check_events": 0, "align_check_hidden_items": len(hidden)}
    after = tuned.encode([texts[i] for i in hidden]) @ fit.model.out_adapter.T
    positive = rule_from_config(config.positives, log).weights(log)[0] > 0
    sequences = UserLog.of(log).sequences(item_ids)
    positives = user_values(log.assign(_positive=positive), "_positive")
    return {**ranking_check(fit.model, fit.model.item_out[hidden], after, hidden, sequences, positives,
                            config.seed), "align_check_hidden_items": len(hidden)}


def _as_check(callbacks: list[Callback]) -> list[Callback]:
    def relay(event: TrainEvent) -> None:
        said = f"{event.stage}: {event.message}" if event.message else event.stage
        emit(callbacks, TrainEvent("tune-encoder", event.step, event.total, None, f"checking the alignment, {said}"))
    return [relay]


def ranking_check(model: ServingModel, before: np.ndarray, after: np.ndarray, hidden: np.ndarray,
                  sequences: dict[str, np.ndarray], positives: dict[str, np.ndarray], seed: int, k: int = 10) -> dict:
    """Every event where a user's next item (a positive one) was a hidden item: the user vector of the history
    before it, hidden items left out, ranks all hidden items placed by `before` and by `after` (their candidate
    vectors, rows as `hidden`); NDCG@k of that item, paired. Biases are left out: new items share one."""
    slot = np.full(len(model.item_ids), -1)
    slot[hidden] = np.arange(len(hidden))
    events = [(user, int(p)) for user, seq in sequences.items()
              for p in np.flatnonzero((slot[seq] >= 0) & positives[user]) if p > 0]
    if len(events) > MAX_EVENTS:
        pick = np.sort(np.random.default_rng(seed).choice(len(events), MAX_EVENTS, replace=False))
        events = [events[i] for i in pick]
    histories = [sequences[user][:p] for user, p in events]
    histories = [h[slot[h] < 0] for h in histories]  # the hidden items were never in the fit's training data
    events = [e for e, h in zip(events, histories) if len(h)]
    histories = [h for h in histories if len(h)]
    if not events:
        return {"align_check_events": 0}
    users = model.user_vectors(histories)
    target = np.array([slot[sequences[user][p]] for user, p in events])
    gains = []
    for vectors in (before, after):  # every hidden item ranked, as the referee's cold protocol ranks every cold item
        scores = users @ np.asarray(vectors, dtype=np.float32).T  # (events, hidden items)
        rank = (scores > scores[np.arange(len(events)), target][:, None]).sum(1) + 1
        gains.append(np.where(rank <= k, 1.0 / np.log2(rank + 1), 0.0))
    diff = gains[1] - gains[0]
    return {"align_check_events": len(events), "align_check_ndcg_frozen": float(gains[0].mean()),
            "align_check_ndcg_aligned": float(gains[1].mean()), "align_check_gain": float(diff.mean()),
            "align_check_gain_se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0}
