from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

from recsys.feedback import Feedback, FeedbackLedger
from recsys.storage import exclusive, locked_elsewhere, try_lock, unlock
from tests.conftest import ROOT


def test_a_lock_held_by_another_process_is_seen_and_freed_when_it_dies(tmp_path):
    path = tmp_path / "job.lock"
    holder = subprocess.Popen([sys.executable, "-c", f"from recsys.storage import try_lock; import time; "
                               f"fh = try_lock(__import__('pathlib').Path({str(path)!r})); print('held', flush=True); "
                               "time.sleep(60)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert locked_elsewhere(path) and try_lock(path) is None
    holder.kill()
    holder.wait()
    assert not locked_elsewhere(path)
    unlock(try_lock(path))


def test_writers_of_one_workspace_take_turns(tmp_path):
    inside, overlaps = [], []

    def writer() -> None:
        with exclusive(tmp_path / "write.lock"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.05)
            inside.pop()
    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]


def test_a_ledger_made_before_cleared_thumbs_existed_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "feedback.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, item_id TEXT "
                "NOT NULL, label TEXT NOT NULL CHECK (label IN ('up', 'down')), model_version TEXT, shown_rank "
                "INTEGER, shown_score REAL, annotator TEXT NOT NULL DEFAULT '', created REAL NOT NULL)")
    con.execute("INSERT INTO feedback (user_id, item_id, label, annotator, created) VALUES ('u', 'i', 'up', 'a', 1)")
    con.commit()
    con.close()
    ledger = FeedbackLedger(path)
    ledger.add(Feedback("u", "i", "cleared"))
    assert ledger.frame()[["id", "label"]].values.tolist() == [[1, "up"], [2, "cleared"]]
    assert ledger.current_labels().empty
