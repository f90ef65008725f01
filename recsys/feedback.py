"""The feedback ledger: every thumb ever given, in SQLite, safe for many threads and processes."""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys.errors import RecTuneError

LABELS = ("up", "down", "cleared")  # "cleared": a thumb taken back; the history keeps what it replaced
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL, item_id TEXT NOT NULL, label TEXT NOT NULL CHECK (label IN ('up', 'down', 'cleared')),
    model_version TEXT, shown_rank INTEGER, shown_score REAL, annotator TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_user ON feedback (user_id);
"""
COLUMNS = ["id", "user_id", "item_id", "label", "model_version", "shown_rank", "shown_score", "annotator", "created"]


@dataclass(frozen=True)
class Feedback:
    user_id: str
    item_id: str
    label: str
    model_version: str | None = None
    shown_rank: int | None = None
    shown_score: float | None = None
    annotator: str = ""
    created: float = 0.0

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise RecTuneError(f"label must be 'up', 'down' or 'cleared', not '{self.label}'.")
        if not str(self.user_id).strip() or not str(self.item_id).strip():
            raise RecTuneError("feedback needs a user id and an item id.")


class FeedbackLedger:
    """Append-only; the latest thumb of a (user, item) pair is the one that counts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with closing(self._connect()) as con, con:
                con.executescript(_SCHEMA)
                _allow_cleared(con)
        except sqlite3.OperationalError as exc:
            raise RecTuneError(f"cannot open the feedback ledger {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            with_retries(lambda: con.execute("PRAGMA journal_mode=WAL"))
            con.execute("PRAGMA busy_timeout=30000")
        except BaseException:
            con.close()
            raise
        return con

    def add(self, fb: Feedback) -> int:
        row = (str(fb.user_id), str(fb.item_id), fb.label, fb.model_version, fb.shown_rank, fb.shown_score,
               fb.annotator, fb.created or time.time())
        with closing(self._connect()) as con:
            cur = con.execute("INSERT INTO feedback (user_id, item_id, label, model_version, shown_rank, shown_score,"
                              " annotator, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid)

    def count(self) -> int:
        with closing(self._connect()) as con:
            return int(con.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def frame(self, user_id: str | None = None) -> pd.DataFrame:
        """All thumbs, oldest first (documented columns: COLUMNS)."""
        query, args = "SELECT * FROM feedback", ()
        if user_id is not None:
            query, args = query + " WHERE user_id = ?", (str(user_id),)
        with closing(self._connect()) as con:
            rows = con.execute(query + " ORDER BY id", args).fetchall()
        return pd.DataFrame(rows, columns=COLUMNS)

    def current_labels(self, user_id: str | None = None) -> pd.DataFrame:
        """One row per (user, item) whose latest label is up or down (a cleared thumb counts as none)."""
        df = self.frame(user_id)
        latest = df.drop_duplicates(["user_id", "item_id"], keep="last")
        return latest[latest["label"] != "cleared"].reset_index(drop=True)

    def by_annotator(self, user_id: str) -> pd.DataFrame:
        """One row per (item, annotator) whose latest thumb for this user is up or down: who judged what
        (columns: item_id, annotator, label)."""
        df = self.frame(user_id)
        latest = df.drop_duplicates(["item_id", "annotator"], keep="last")
        return latest.loc[latest["label"] != "cleared", ["item_id", "annotator", "label"]].reset_index(drop=True)

    def annotator_progress(self, annotator: str) -> tuple[int, int]:
        """(thumbs, users) of one annotator, counting each (user, item) once, by its latest label."""
        with closing(self._connect()) as con:
            rows = con.execute("SELECT user_id, item_id, label FROM feedback WHERE annotator = ? ORDER BY id",
                               (str(annotator),)).fetchall()
        latest = {(u, i): label for u, i, label in rows}
        judged = [key for key, label in latest.items() if label != "cleared"]
        return len(judged), len({u for u, _ in judged})

    def items_with(self, user_id: str, label: str) -> list[str]:
        df = self.current_labels(user_id)
        return df.loc[df["label"] == label, "item_id"].tolist()


def with_retries(run, seconds: float = 30.0, first_wait: float = 0.005):
    """run(), again after a growing pause while SQLite says the database is locked, for up to `seconds`. Switching a
    new ledger to WAL needs the file to itself, and SQLite answers 'database is locked' at once, without its busy
    wait, while another connection opens or switches it: of 200 new ledgers each opened by 8 threads at once, 14
    opens failed so (tests/test_feedback.py)."""
    deadline, wait = time.monotonic() + seconds, first_wait
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + wait > deadline:
                raise
        time.sleep(wait)
        wait = min(2 * wait, 0.25)


def _allow_cleared(con: sqlite3.Connection) -> None:
    """Ledgers made before 'cleared' existed have a CHECK that refuses it: rebuild the table once, keeping ids."""
    sql = con.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='feedback'").fetchone()[0]
    if "'cleared'" in sql:
        return
    con.execute("BEGIN IMMEDIATE")
    con.execute("ALTER TABLE feedback RENAME TO feedback_old")
    con.execute("DROP INDEX IF EXISTS feedback_user")
    for statement in filter(str.strip, _SCHEMA.split(";")):
        con.execute(statement)
    con.execute("INSERT INTO feedback SELECT * FROM feedback_old")
    con.execute("DROP TABLE feedback_old")
    con.execute("COMMIT")
