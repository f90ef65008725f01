"""A job's work in a real spawned child process: events come back, the result comes back, a failure comes back
as its message, a dead child ends the job with its exit code, cancelling stops it; and a round started the way
the app starts one (background, real encoder) trains in a child and lands as a version."""
from __future__ import annotations

import os
import threading
import time

import pytest

from recsys.child_process import rebuilt, run_in_child
from recsys.config import TrainConfig
from recsys.errors import DataError, JobError
from recsys.events import Cancelled, TrainEvent
from recsys.service import ImportRequest, Service


def counts_to(n: int, on_event, cancel) -> str:
    for step in range(1, n + 1):
        on_event(TrainEvent("train", step, n, 1.0 / step, f"step {step}"))
    return f"v{n:04d} from {os.getpid()}"


def fails(kind: str, on_event, cancel) -> None:
    if kind == "data":
        raise DataError("items.csv, row 3: no item id")
    if kind == "exit":
        os._exit(3)
    raise KeyError("boom")


def waits_for_cancel(on_event, cancel) -> None:
    on_event(TrainEvent("train", 1, 2, None, "waiting"))
    while not cancel.is_set():
        time.sleep(0.05)
    raise Cancelled()


def test_events_and_the_result_come_back_from_another_process():
    seen = []
    result = run_in_child(counts_to, {"n": 3}, seen.append, threading.Event())
    assert [(e.step, e.loss, e.message) for e in seen] == [(1, 1.0, "step 1"), (2, 0.5, "step 2"), (3, 1 / 3, "step 3")]
    assert result.startswith("v0003 from ") and result != f"v0003 from {os.getpid()}"


def test_a_failure_comes_back_as_its_class_and_message():
    with pytest.raises(DataError, match="items.csv, row 3: no item id"):
        run_in_child(fails, {"kind": "data"}, lambda e: None, threading.Event())
    with pytest.raises(RuntimeError) as caught:
        run_in_child(fails, {"kind": "key"}, lambda e: None, threading.Event())
    assert type(caught.value).__name__ == "KeyError" and str(caught.value) == "'boom'"


def test_a_child_that_dies_ends_the_job_with_its_exit_code():
    with pytest.raises(JobError, match=r"stopped unexpectedly \(exit code 3\)"):
        run_in_child(fails, {"kind": "exit"}, lambda e: None, threading.Event())


def test_cancelling_in_this_process_stops_the_child():
    cancel = threading.Event()
    threading.Timer(3.0, cancel.set).start()
    t = time.perf_counter()
    with pytest.raises(Cancelled):
        run_in_child(waits_for_cancel, {}, lambda e: None, cancel)
    assert time.perf_counter() - t < 20


def test_rebuilt_errors_keep_their_class_or_at_least_their_name():
    assert type(rebuilt("JobError", "x")) is JobError and type(rebuilt("ValueError", "y")) is ValueError
    other = rebuilt("ZeroDivisionError", "division by zero")
    assert isinstance(other, RuntimeError) and type(other).__name__ == "ZeroDivisionError"


@pytest.mark.slow
def test_a_round_started_as_the_app_starts_it_trains_in_a_child_and_lands_as_a_version(tmp_path, tiny_files):
    service = Service(tmp_path / "w")  # the real encoder factory: the app's
    service.import_files(ImportRequest(*tiny_files))
    status = service.train(TrainConfig(epochs=2, min_examples=1, kind="history", dim=16), evaluate=False)
    final = service.runner.wait(300)
    assert final.state == "done" and final.version == "v0002", final.message
    assert final.job_id == status.job_id and len(final.losses) >= 1 and final.stage == "save"
    assert service.ws.active_name() == "v0002"
