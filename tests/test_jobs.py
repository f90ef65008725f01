"""Runner states with fake work: done, cancelled, failed, interrupted; one job at a time."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from recsys.errors import JobError
from recsys.events import Cancelled, TrainEvent
from recsys.jobs import JobRunner, JobStatus


def steps(n: int, gate: threading.Event | None = None):
    def work(on_event, cancel):
        for i in range(n):
            if gate is not None:
                gate.wait(5)
            if cancel.is_set():
                raise Cancelled()
            on_event(TrainEvent("train", i + 1, n, loss=1.0 / (i + 1)))
        return "v0007"
    return work


def test_a_finished_job_is_done_with_its_version_and_losses(tmp_path):
    runner = JobRunner(tmp_path)
    status = runner.start(steps(4), background=False)
    assert (status.state, status.version, status.step, status.total) == ("done", "v0007", 4, 4)
    assert status.losses == (1.0, 0.5, 1 / 3, 0.25)
    on_disk = JobStatus.from_dict(json.loads((tmp_path / "job.json").read_text()))
    assert on_disk.state == "done" and on_disk.losses == status.losses


def test_validation_scores_are_kept_per_model_kind_and_survive_a_reload(tmp_path):
    def work(on_event, cancel):
        on_event(TrainEvent("validate", 50, 100, None, "epoch 1", 0.05, "history"))
        on_event(TrainEvent("train", 60, 100, 0.9))
        on_event(TrainEvent("validate", 100, 100, None, "epoch 2", 0.07, "history"))
        on_event(TrainEvent("validate", 50, 100, None, "epoch 1", 0.04, "attention"))
        return "v0002"
    status = JobRunner(tmp_path).start(work, background=False)
    expected = (("history", 50, 0.05), ("history", 100, 0.07), ("attention", 50, 0.04))
    assert status.validations == expected and status.losses == (0.9,)
    assert JobStatus.from_dict(json.loads((tmp_path / "job.json").read_text())).validations == expected


def test_after_its_own_job_a_runner_sees_a_newer_job_of_another_process(tmp_path):
    mine, other = JobRunner(tmp_path), JobRunner(tmp_path)  # two processes' runners of one workspace
    first = mine.start(steps(1), background=False)
    second = other.start(steps(2), background=False)
    assert first.job_id != second.job_id
    assert mine.status().job_id == second.job_id and mine.status().step == 2


def test_cancel_stops_the_job_and_reports_cancelled(tmp_path):
    runner = JobRunner(tmp_path)
    gate = threading.Event()
    runner.start(steps(1000, gate))
    runner.cancel()
    gate.set()
    status = runner.wait(10)
    assert status.state == "cancelled" and status.version is None
    assert "previous model stays active" in status.message


def test_an_exception_ends_the_job_as_failed_with_its_message(tmp_path):
    def boom(on_event, cancel):
        raise FloatingPointError("training loss became nan at epoch 2")
    status = JobRunner(tmp_path).start(boom, background=False)
    assert status.state == "failed" and status.message == "FloatingPointError: training loss became nan at epoch 2"


def test_a_second_start_is_refused_while_one_runs(tmp_path):
    runner = JobRunner(tmp_path)
    gate = threading.Event()
    runner.start(steps(3, gate))
    with pytest.raises(JobError, match="already running"):
        runner.start(steps(1))
    with pytest.raises(JobError, match="another process"):
        JobRunner(tmp_path).start(steps(1))  # a second runner (another session or process) on the same workspace
    gate.set()
    assert runner.wait(10).state == "done"
    assert runner.start(steps(1), background=False).state == "done"


def test_two_threads_pressing_start_at_once_get_one_job(tmp_path):
    runner = JobRunner(tmp_path)
    gate = threading.Event()
    results = []

    def press():
        try:
            results.append(runner.start(steps(2, gate)).state)
        except JobError as exc:
            results.append(str(exc))
    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gate.set()
    runner.wait(10)
    assert sorted(r[:7] for r in results) == ["a train", "running"]


def test_progress_is_readable_from_another_runner_while_running(tmp_path):
    runner = JobRunner(tmp_path, write_interval_s=0.0)
    gate = threading.Event()
    runner.start(steps(5, gate))
    gate.set()
    runner.wait(10)
    other = JobRunner(tmp_path).status()
    assert other.state == "done" and other.step == 5


def test_a_job_left_running_by_a_killed_process_is_reported_interrupted(tmp_path):
    code = ("import sys, time; sys.path.insert(0, '.'); from recsys.jobs import JobRunner; "
            f"r = JobRunner({str(tmp_path)!r}); r.start(lambda e, c: time.sleep(60)); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 20
    while time.time() < deadline and not (tmp_path / "job.json").exists():
        time.sleep(0.1)
    assert JobRunner(tmp_path).status().state == "running"  # the other process still holds the lock
    proc.kill()
    proc.wait()
    status = JobRunner(tmp_path).status()
    assert status.state == "interrupted" and "stopped before it finished" in status.message


def test_a_background_job_shortens_the_gil_switch_interval(tmp_path):
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # CPython's default
        runner = JobRunner(tmp_path)
        runner.start(steps(2))
        assert runner.wait(10).state == "done"
        assert sys.getswitchinterval() == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(before)
