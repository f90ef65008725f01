"""Which model kind a round trains: "history", "attention", or "auto", which trains both on the same data and
validation users and keeps the attention model only when it beats the history model on those users by more
than the noise (a paired per-user comparison through the serving code path). The attention model races the
history model's validation curve and stops early once it is behind at an equal number of epochs (trainer.Race)."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.events import Callback, TrainEvent, emit
from recsys.loop_hooks import Check
from recsys.trainer import FitResult, fit_adapter


def fit_on_backend(text: np.ndarray, item_ids: np.ndarray, train: pd.DataFrame, feedback: pd.DataFrame,
                   config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None,
                   rival: tuple[Check, ...] = ()) -> FitResult:
    """fit_adapter here, or (backend 'ray') the same loop on Ray Train workers (distributed.py).
    rival: another kind's validation curve to race against (trainer.Race)."""
    if config.backend == "ray":
        from recsys.distributed import fit_on_ray
        return fit_on_ray(text, item_ids, train, feedback, config, callbacks, cancel, rival)
    return fit_adapter(text, item_ids, train, feedback, config, callbacks, cancel, rival=rival)


def fit_model(text: np.ndarray, item_ids: np.ndarray, train: pd.DataFrame, feedback: pd.DataFrame,
              config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None) -> FitResult:
    """fit_adapter for one kind; for "auto", both kinds and the choice, said in FitResult.kind_reason."""
    callbacks = list(callbacks)
    started = time.perf_counter()
    if config.kind != "auto":
        fit = fit_on_backend(text, item_ids, train, feedback, config, callbacks, cancel)
        return replace(fit, kind=config.kind, kind_reason=f"{config.kind} model, as configured",
                       kind_seconds={config.kind: round(time.perf_counter() - started, 1)})
    fits, seconds = {}, {}
    for kind in ("history", "attention"):  # the attention model races the history model's validation curve
        rival = fits["history"].curve if fits else ()
        fits[kind] = fit_on_backend(text, item_ids, train, feedback, replace(config, kind=kind),
                                    [_labelled(kind, callbacks)], cancel, rival)
        seconds[kind], started = round(time.perf_counter() - started, 1), time.perf_counter()
    kind, reason = choose(fits, train)
    if fits["attention"].stopped_by == "race":
        reason += (f"; the attention model was stopped after {fits['attention'].epochs:g} epochs, behind the history "
                   "model at the same epoch")
    emit(callbacks, TrainEvent("train", 1, 1, None, reason))
    return replace(fits[kind], kind=kind, kind_reason=reason, kind_seconds=seconds)


def _labelled(kind: str, callbacks: list[Callback]) -> Callback:
    """Relay a kind's events (losses included: they are the round's curve), its messages prefixed by the kind."""
    def relay(event: TrainEvent) -> None:
        emit(callbacks, replace(event, message=f"{kind} model: {event.message}" if event.message else ""))
    return relay


def choose(fits: dict[str, FitResult], train: pd.DataFrame, k: int = 10) -> tuple[str, str]:
    from recsys.baselines import ServedModel
    from recsys.gate import validation_split
    from recsys.protocols import per_user_ndcg
    users = list(fits["history"].val_users)
    if not users:
        return "history", "history model: too few users to compare the kinds on"
    split = validation_split(train, users)
    ids = fits["history"].model.item_ids
    gains = {kind: per_user_ndcg(ServedModel(kind, lambda t, i, m=fit.model: m), split, ids, k)
             for kind, fit in fits.items()}
    diff = gains["attention"] - gains["history"]
    noise = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    scores = f"validation NDCG@{k} attention {gains['attention'].mean():.4f} vs history {gains['history'].mean():.4f}"
    if diff.mean() > noise:
        return "attention", f"attention model chosen: {scores}, a gain beyond the noise (±{noise:.4f})"
    if -diff.mean() > noise:
        return "history", f"history model chosen: {scores}; attention is worse by more than the noise (±{noise:.4f})"
    return "history", f"history model chosen: {scores}; attention does not beat it by more than the noise " \
                      f"(±{noise:.4f}), and the history model is the simpler one"
