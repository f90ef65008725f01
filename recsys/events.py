"""Progress of long operations: typed events, the callback type that receives them, cancellation, and the
stage names people read."""
from __future__ import annotations

import time
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
    value: float | None = None  # a validation score (stage 'validate')
    series: str = ""  # which model the value belongs to (auto trains two kinds, each with its own curve)


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


class StageClock:
    """A callback that times an operation's stages from its events. Events report work done (a step, a chunk,
    a check), so the time up to an event is its stage's: validation checks count as 'validate', the set-up before
    a kind's first step as 'train'. An event at step 0 only marks its stage's start (no work done yet), so the
    time up to it is the previous stage's (the work that stage did after its last event); time after the last
    event counts as the last stage. `auto`'s two kinds are both 'train', timed apart in FitResult.kind_seconds.
    (On the Ray backend events arrive in batches, so there the split between 'train' and 'validate' is coarse.)"""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock, self.stage, self.totals = clock, None, {}
        self.since = clock()

    def __call__(self, event: TrainEvent) -> None:
        now = self.clock()
        billed = self.stage if event.step == 0 and self.stage is not None else event.stage
        self.totals[billed] = self.totals.get(billed, 0.0) + now - self.since
        self.totals.setdefault(event.stage, 0.0)
        self.stage, self.since = event.stage, now

    def seconds(self) -> dict[str, float]:
        """Seconds per stage so far, in the order the stages first reported, rounded to 0.1 s."""
        totals = dict(self.totals)
        if self.stage is not None:
            totals[self.stage] += self.clock() - self.since
        return {stage: round(value, 1) for stage, value in totals.items()}


STAGE_NAMES = {"load": "Reading the data", "encode": "Reading the item texts with the language model",
               "tune-encoder": "Tuning the language model", "train": "Learning from the log",
               "rerank": "Teaching the language model to re-rank each list",
               "validate": "Checking on held-out users", "save": "Saving the new model version",
               "import": "Importing the files", "quick": "Applying the thumbs", "evaluate": "Evaluating",
               "index": "Indexing a large catalog so that lists come fast",
               "evaluate: baselines": "Scoring the simple baselines",
               "evaluate: warm": "Testing on known items (each user's latest choice hidden)",
               "evaluate: cold": "Testing on brand-new items"}


def stage_name(stage: str) -> str:
    """The plain-words name of a stage (the stage itself if it has none)."""
    return STAGE_NAMES.get(stage, stage)
