"""The training job as the app and the CLI start it: a round, then (optionally) its evaluation."""
from __future__ import annotations

import threading
from collections.abc import Callable

from recsys.bootstrap import shared_encoder
from recsys.jobs import JobRunner, JobStatus
from recsys.pipeline import run_round
from recsys.training import TrainConfig, TrainEvent
from recsys.workspace import Workspace


def start_training(ws: Workspace, runner: JobRunner, config: TrainConfig, evaluate: bool = True,
                   background: bool = True) -> JobStatus:
    """Start a round in the runner's thread; raises JobError if one is already running."""
    def work(on_event: Callable[[TrainEvent], None], cancel: threading.Event) -> str:
        return run_round(ws, config, [on_event], cancel, evaluate, encoder_factory=shared_encoder).version
    return runner.start(work, {**config.to_dict(), "evaluate": evaluate}, background=background)


def start_evaluation(ws: Workspace, runner: JobRunner, background: bool = True) -> JobStatus:
    """Evaluate the active version's settings (and the baselines) in the runner; results go to its metrics."""
    from recsys.pipeline import item_text_vectors
    from recsys.rounds import evaluate_config
    from recsys.storage import atomic_write_json, read_json
    version = ws.active_version()

    def work(on_event: Callable[[TrainEvent], None], cancel: threading.Event) -> str:
        saved = read_json(version.path / "config.json", {}) or {}
        config = TrainConfig.from_saved(saved)
        dataset = ws.load_dataset()
        on_event(TrainEvent("evaluate", 0, 1, None, f"evaluating {version.name}"))
        text = item_text_vectors(ws, dataset.items, shared_encoder(config.encoder_model), [on_event])
        result = evaluate_config(ws, dataset, text, config, cancel, callbacks=[on_event])
        atomic_write_json(version.path / "metrics.json", {**read_json(version.path / "metrics.json", {}),
                                                          "evaluation": result})
        on_event(TrainEvent("evaluate", 1, 1, None, "evaluation written"))
        return version.name
    return runner.start(work, {"evaluate": version.name}, background=background)
