"""The CLI contract, run as a user would (subprocesses, the real packaged encoder on tiny data)."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT


def cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "recsys", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One workspace trained once on a tiny import with the real encoder."""
    tmp = tmp_path_factory.mktemp("cli")
    items = tmp / "items.csv"
    items.write_text("item_id,title,category\n" + "".join(f"i{i},Book {i} about {'cats' if i % 2 else 'ships'},"
                                                         f"{'pets' if i % 2 else 'sea'}\n" for i in range(30)))
    rows = [(f"u{u}", f"i{(u + 2 * t) % 30}", t) for u in range(12) for t in range(8)]
    log = tmp / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(log, index=False)
    ws = tmp / "ws"
    proc = cli("train", "--interactions", log, "--items", items, "--workspace", ws, "--max-seconds", 20)
    return ws, tmp, proc


@pytest.mark.slow
def test_train_imports_prints_the_summary_and_progress(trained):
    ws, _, proc = trained
    assert "users: 12" in proc.stderr and "items: 30 (26 with interactions)" in proc.stderr
    assert "[train]" in proc.stderr and "trained v0001" in proc.stderr


@pytest.mark.slow
def test_recommend_excludes_history_and_thumbs_down(trained):
    ws, tmp, _ = trained
    out = tmp / "recs.csv"
    cli("recommend", "--workspace", ws, "--user", "u0", "-k", 5, "--out", out)
    recs = pd.read_csv(out, dtype=str)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"] and len(recs) == 5
    history = {f"i{(2 * t) % 30}" for t in range(8)}
    assert not set(recs["item_id"]) & history
    first = recs["item_id"].iloc[0]
    cli("feedback", "--workspace", ws, "--user", "u0", "--item", first, "--label", "down", "--annotator", "t")
    cli("recommend", "--workspace", ws, "--user", "u0", "-k", 5, "--out", out)
    assert first not in set(pd.read_csv(out, dtype=str)["item_id"])


@pytest.mark.slow
def test_candidates_restrict_and_all_users_lists_everyone(trained):
    ws, tmp, _ = trained
    shelf = tmp / "shelf.txt"
    shelf.write_text("i1\ni3\ni29\n")
    out = tmp / "all.csv"
    cli("recommend", "--workspace", ws, "--all-users", "-k", 2, "--candidates", shelf, "--out", out)
    recs = pd.read_csv(out, dtype=str)
    assert recs["user_id"].nunique() == 12 and set(recs["item_id"]) <= {"i1", "i3", "i29"}


@pytest.mark.slow
def test_next_round_trains_on_feedback_and_status_lists_versions(trained):
    ws, _, _ = trained
    cli("feedback", "--workspace", ws, "--user", "u1", "--item", "i20", "--label", "up")
    cli("train", "--workspace", ws, "--max-seconds", 10)
    status = json.loads(cli("status", "--workspace", ws, "--json").stdout)
    assert [(m["version"], m["active"]) for m in status["models"]] == [("v0001", False), ("v0002", True)]
    assert status["feedback"] >= 1 and status["job"]["state"] == "done"
    cli("activate", "--workspace", ws, "v0001")
    assert json.loads(cli("status", "--workspace", ws, "--json").stdout)["active"] == "v0001"


def test_status_and_feedback_do_not_import_torch(tmp_path):
    code = ("import sys; from recsys.cli import main; "
            f"main(['feedback', '--workspace', {str(tmp_path)!r}, '--user', 'u', '--item', 'i', '--label', 'up']); "
            f"main(['status', '--workspace', {str(tmp_path)!r}, '--json']); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip().endswith("NO-TORCH"), proc.stderr
    assert json.loads(proc.stdout)["feedback"] == 1


def test_user_errors_exit_2_with_one_error_line(tmp_path):
    bad = tmp_path / "log.csv"
    bad.write_text("a,b\n1,2\n")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n1,x\n")
    proc = cli("train", "--interactions", bad, "--items", items, "--workspace", tmp_path / "w", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: log.csv: no user id column (looked for user_id, userId, user, uid, customer_id, visitor_id; "
        "found a, b); rename the column or choose it with --user-col."]
    proc = cli("recommend", "--workspace", tmp_path / "nowhere", "--user", "u", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    proc = cli("feedback", "--workspace", tmp_path / "w", "--user", "u", "--item", "i", "--label", "meh", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
