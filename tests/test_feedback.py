from __future__ import annotations

import multiprocessing as mp
import sqlite3
import sys
import threading
import types

import pytest

from recsys.errors import RecTuneError
from recsys.feedback import Feedback, FeedbackLedger, with_retries


def test_ledger_keeps_every_field_and_the_latest_label_counts(tmp_path):
    ledger = FeedbackLedger(tmp_path / "f.sqlite")
    ledger.add(Feedback("u1", "i1", "up", "v0001", 3, 0.5, "ann", created=10.0))
    ledger.add(Feedback("u1", "i1", "down", "v0002", 1, 0.9, "bob", created=11.0))
    ledger.add(Feedback("u2", "i2", "up"))
    frame = ledger.frame()
    assert frame.iloc[0][["user_id", "item_id", "label", "model_version", "shown_rank", "shown_score", "annotator",
                          "created"]].tolist() == ["u1", "i1", "up", "v0001", 3, 0.5, "ann", 10.0]
    assert ledger.count() == 3
    assert ledger.current_labels()[["user_id", "item_id", "label"]].values.tolist() == [["u1", "i1", "down"],
                                                                                        ["u2", "i2", "up"]]
    assert ledger.items_with("u1", "down") == ["i1"] and ledger.items_with("u1", "up") == []


def test_bad_labels_are_refused():
    with pytest.raises(RecTuneError, match="label must be 'up', 'down' or 'cleared'"):
        Feedback("u", "i", "meh")


def _write_thumbs(path: str, writer: int, n: int) -> None:
    ledger = FeedbackLedger(path)
    for j in range(n):
        ledger.add(Feedback(f"u{writer}", f"i{j}", "up" if j % 2 else "down", annotator=f"w{writer}"))


def test_eight_processes_writing_25_thumbs_each_lose_none(tmp_path, monkeypatch):
    path = str(tmp_path / "f.sqlite")
    FeedbackLedger(path)
    # spawn re-runs the parent's __main__ file in each child; after an AppTest that can be a page script
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_write_thumbs, args=(path, w, 25)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    assert FeedbackLedger(path).count() == 200


def test_threads_writing_at_once_lose_none(tmp_path):
    """Eight threads open each of 20 new ledgers at once and write to it (opening a new ledger at once was the
    racy part: SQLite's switch to WAL answers 'locked' without waiting; without feedback.with_retries this test
    failed 3 runs of 3)."""
    for n in range(20):
        path = str(tmp_path / f"f{n}.sqlite")
        errors: list[Exception] = []

        def write(w: int, path: str = path, errors: list = errors, count: int = 25 if n == 0 else 3) -> None:
            try:
                _write_thumbs(path, w, count)
            except Exception as exc:  # noqa: BLE001 (a thread's error would otherwise be a warning only)
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        frame = FeedbackLedger(path).frame()
        assert frame.groupby("annotator").size().tolist() == [25 if n == 0 else 3] * 8


def test_a_locked_answer_is_tried_again_after_a_pause_and_other_errors_at_once():
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert with_retries(locked_twice, first_wait=0.001) == "ok" and len(calls) == 3

    def broken():
        calls.append(1)
        raise sqlite3.OperationalError("no such table: feedback")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        with_retries(broken)
    assert len(calls) == 1

    def always_locked():
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        with_retries(always_locked, seconds=0.05, first_wait=0.01)


def test_by_annotator_shows_who_judged_what_latest_first_and_drops_cleared(tmp_path):
    from recsys.feedback import Feedback, FeedbackLedger
    ledger = FeedbackLedger(tmp_path / "f.sqlite")
    for item, label, who in [("a", "up", "ann"), ("a", "down", "bob"), ("a", "down", "ann"), ("b", "up", "bob"),
                             ("b", "cleared", "bob"), ("c", "up", "cy")]:
        ledger.add(Feedback("u1", item, label, annotator=who))
    ledger.add(Feedback("u2", "a", "up", annotator="ann"))
    got = ledger.by_annotator("u1").values.tolist()
    assert sorted(got) == [["a", "ann", "down"], ["a", "bob", "down"], ["c", "cy", "up"]]
    assert ledger.annotator_progress("ann") == (2, 2)  # (u1, a) counted once; u2's a
    assert ledger.annotator_progress("bob") == (1, 1)  # b was cleared
    assert ledger.annotator_progress("nobody") == (0, 0)
