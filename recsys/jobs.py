"""Background training jobs: one at a time per workspace, a status snapshot readable from any thread and
persisted to disk (so a reloaded page, another tab or another process sees it), cancel via an Event."""
from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from recsys.errors import JobError
from recsys.events import Cancelled, TrainEvent
from recsys.storage import atomic_write_json, locked_elsewhere, read_json, try_lock, unlock

STATES = ("idle", "running", "done", "failed", "cancelled", "interrupted")
MAX_LOSS_POINTS = 300  # the loss history kept in the snapshot is thinned to this many points
JOB_SWITCH_INTERVAL_S = 0.001  # the GIL switch interval while a job thread runs (see _shorten_switch_interval)


@dataclass(frozen=True)
class JobStatus:
    state: str = "idle"
    job_id: str = ""
    stage: str = ""
    step: int = 0
    total: int = 0
    losses: tuple[float, ...] = ()
    validations: tuple[tuple[str, int, float], ...] = ()  # (model kind, step, validation NDCG@10)
    eta_s: float | None = None
    message: str = ""
    version: str | None = None
    started: float | None = None
    updated: float | None = None
    finished: float | None = None
    settings: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state == "running"

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> JobStatus:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["losses"] = tuple(known.get("losses", ()))
        known["validations"] = tuple(tuple(v) for v in known.get("validations", ()))
        return cls(**known)


Work = Callable[[Callable[[TrainEvent], None], threading.Event], str]


class JobRunner:
    """Runs `work(on_event, cancel) -> version` in a thread. Never touches any UI: pages poll `status()`."""

    def __init__(self, workspace_root: str | Path, write_interval_s: float = 0.5) -> None:
        self.root = Path(workspace_root)
        self.status_path = self.root / "job.json"
        self.lock_path = self.root / "job.lock"
        self.write_interval_s = write_interval_s
        self._lock = threading.Lock()
        self._status = self._load()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._stage_clock = (time.time(), 0)
        self._last_write = 0.0
        self._lock_fh = None

    def _load(self) -> JobStatus:
        status = JobStatus.from_dict(read_json(self.status_path, {}) or {})
        if status.state == "running" and not locked_elsewhere(self.lock_path):
            status = replace(status, state="interrupted", finished=time.time(),
                             message="the process running this job stopped before it finished; start it again")
            atomic_write_json(self.status_path, status.to_dict())
        return status

    def status(self) -> JobStatus:
        with self._lock:
            if self._lock_fh is not None:  # our job runs: the freshest snapshot is in memory
                return self._status
        return self._load()  # else the newest job may be another process's: read the snapshot on disk

    def start(self, work: Work, settings: dict | None = None, background: bool = True) -> JobStatus:
        """Refuse while a job runs here or in another process; else start and return the first snapshot."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise JobError("a training job is already running in this workspace; wait for it or cancel it.")
            fh = _try_lock(self.lock_path)
            if fh is None:
                raise JobError("a training job is already running in this workspace (another process); "
                               "wait for it or cancel it.")
            self._lock_fh, self._cancel = fh, threading.Event()
            self._status = JobStatus("running", uuid.uuid4().hex[:8], "starting", started=time.time(),
                                     updated=time.time(), settings=settings or {}, message="starting")
            self._stage_clock = (time.time(), 0)
            self._write(force=True)
            self._thread = threading.Thread(target=self._run, args=(work,), name="rectune-job", daemon=True)
        if background:
            _shorten_switch_interval()
            self._thread.start()
        else:
            self._thread.run()
        return self.status()

    def cancel(self) -> bool:
        """Ask the running job to stop; the previous model stays active. False if none runs here."""
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
        if running:
            self._cancel.set()
        return running

    def wait(self, timeout: float | None = None) -> JobStatus:
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        return self.status()

    def _run(self, work: Work) -> None:
        state, message, version = "failed", "", None
        try:
            version = work(self._on_event, self._cancel)
            state, message = "done", f"finished: {version}"
        except Cancelled:
            state, message = "cancelled", "cancelled; the previous model stays active"
        except Exception as exc:  # any failure ends the job with its message; the app keeps going
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
        finally:
            with self._lock:
                self._status = replace(self._status, state=state, message=message, version=version, eta_s=None,
                                       finished=time.time(), updated=time.time())
                self._write(force=True)
                unlock(self._lock_fh)
                self._lock_fh = None

    def _on_event(self, event: TrainEvent) -> None:
        with self._lock:
            st = self._status
            if event.stage != st.stage:
                self._stage_clock = (time.time(), event.step)
            losses = st.losses + ((event.loss,) if event.loss is not None else ())
            if len(losses) > MAX_LOSS_POINTS:
                losses = losses[::2]
            validations = st.validations + (((event.series, event.step, event.value),) if event.value is not None else ())
            self._status = replace(st, stage=event.stage, step=event.step, total=event.total, losses=losses,
                                   validations=validations[-MAX_LOSS_POINTS:],
                                   message=event.message or st.message, updated=time.time(), eta_s=self._eta(event))
            self._write()

    def _eta(self, event: TrainEvent) -> float | None:
        t0, step0 = self._stage_clock
        done = event.step - step0
        if done <= 0 or not event.total:
            return None
        return (time.time() - t0) / done * max(event.total - event.step, 0)

    def _write(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._last_write >= self.write_interval_s:
            atomic_write_json(self.status_path, self._status.to_dict())
            self._last_write = now


def _shorten_switch_interval() -> None:
    """A training step is many short torch calls, each releasing the GIL. With CPython's default 5 ms switch
    interval, a busy thread of the host (a page being rendered) keeps the GIL up to 5 ms at each of them:
    measured on a small data set, 79 steps/s alone, 19 beside a busy thread, 41 with a 1 ms interval."""
    if sys.getswitchinterval() > JOB_SWITCH_INTERVAL_S:
        sys.setswitchinterval(JOB_SWITCH_INTERVAL_S)


def _try_lock(path: Path):
    fh = try_lock(path)
    if fh is not None:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
    return fh


_RUNNERS: dict[str, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner_for(workspace_root: str | Path) -> JobRunner:
    """The one runner of a workspace in this process (threads and app sessions share it)."""
    key = str(Path(workspace_root).resolve())
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = JobRunner(workspace_root)
        return _RUNNERS[key]
