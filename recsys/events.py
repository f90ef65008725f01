"""Progress of long operations: typed events, the callback type that receives them, and cancellation."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


class Cancelled(Exception):
    """Raised inside a long operation when its cancel event is set."""


@dataclass(frozen=True)
class TrainEvent:
    """One progress report: stage (e.g. 'encode', 'train', 'evaluate: warm'), step of total, optional loss."""

    stage: str
    step: int
    total: int
    loss: float | None = None
    message: str = ""


Callback = Callable[[TrainEvent], None]


def emit(callbacks: Iterable[Callback], event: TrainEvent) -> None:
    for cb in callbacks:
        cb(event)


def as_stage(stage: str, callbacks: list[Callback]) -> Callback:
    """Relay another operation's events as steps of `stage`, without their losses (an evaluation refit's
    losses must not enter the round's loss curve)."""
    def relay(event: TrainEvent) -> None:
        emit(callbacks, TrainEvent(stage, event.step, event.total, None, event.message))
    return relay
