"""A job's heavy work in a spawned child process, driven from the job's thread (jobs.py): the app's page scripts
and the training then hold separate GILs. In one process, every page a person opened while a round trained held
the GIL for its Python work, and the training thread, whose step is hundreds of short torch calls that each need
the GIL back, fell from 8.7 to 1.3-2.0 steps/s on the demo (any page, visited back to back).

The child reports TrainEvents over a queue; cancelling sets an inter-process event the child's loops check; a
failure comes back as its exception's name and message; a child that dies (killed, out of memory) ends the job
with its exit code. The previous model stays active in every case: a version is written only at the end."""
from __future__ import annotations

import multiprocessing as mp
import queue
import sys
import threading
import time
import types
from collections.abc import Callable

from recsys import errors
from recsys.errors import JobError
from recsys.events import Callback, Cancelled

POLL_S = 0.2
CANCEL_GRACE_S = 60  # a child that has not stopped this long after Cancel is terminated
_START_LOCK = threading.Lock()


def run_in_child(target: Callable, kwargs: dict, on_event: Callback, cancel: threading.Event):
    """`target(**kwargs, on_event=..., cancel=...)` in a child; returns its result. `target` must be a
    module-level function and `kwargs` picklable (the child imports them afresh)."""
    ctx = mp.get_context("spawn")  # no fork of a threaded server; the child starts clean
    messages, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_child_main, args=(target, kwargs, messages, stop), name="rectune-work", daemon=True)
    _start_without_main(child)
    try:
        return _relay(child, messages, stop, on_event, cancel)
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.terminate()
            child.join(5)


def _start_without_main(child) -> None:
    """Spawn re-runs the parent's main module in the child. Under `streamlit run` (and after Streamlit's AppTest)
    that is app.py, which would run a page in the child: hide it while the child starts."""
    with _START_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            child.start()
        finally:
            sys.modules["__main__"] = main


def _relay(child, messages, stop, on_event: Callback, cancel: threading.Event):
    cancelled_at = None
    while True:
        if cancel.is_set() and cancelled_at is None:
            stop.set()
            cancelled_at = time.monotonic()
        if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
            child.terminate()  # stuck in a step that never checks: the job ends cancelled all the same
            raise Cancelled()
        try:
            kind, payload = messages.get(timeout=POLL_S if child.is_alive() else 2.0)
        except (queue.Empty, EOFError, OSError):  # EOF: a child killed in the middle of a message
            if child.is_alive():
                continue
            raise JobError(f"the training process stopped unexpectedly (exit code {child.exitcode}); the rounds "
                           "table shows whether it wrote a version, and the active model is unchanged.") from None
        if kind == "event":
            on_event(payload)
        elif kind == "done":
            return payload
        elif kind == "cancelled":
            raise Cancelled()
        else:
            raise rebuilt(*payload)


def _child_main(target: Callable, kwargs: dict, messages, stop) -> None:
    try:
        result = target(**kwargs, on_event=lambda event: messages.put(("event", event)), cancel=stop)
        messages.put(("done", result))
    except Cancelled:
        messages.put(("cancelled", None))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the job as its message
        messages.put(("error", (type(exc).__name__, str(exc))))


def rebuilt(name: str, message: str) -> Exception:
    """The child's exception as the job's thread raises it: the project's own error classes and ValueError as
    themselves, anything else as an exception of the same name (the job's message reads as it would in-thread)."""
    known = getattr(errors, name, None)
    if isinstance(known, type) and issubclass(known, Exception):
        return known(message)
    if name == "ValueError":
        return ValueError(message)
    return type(name, (RuntimeError,), {})(message)
