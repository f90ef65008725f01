"""The CLI contract, run as a user would (subprocesses, the real packaged encoder on tiny data)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import ROOT


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
    said = next(line for line in proc.stderr.splitlines() if line.startswith("new items: "))
    assert re.fullmatch(r"new items: \d+ new items placed by their text plus what their \d+ nearest seen items "
                        r"learned \(leave-one-out R\^2 0\.\d{3} on seen items\)", said) or \
        said == "new items: new items placed by their text alone: text neighbours do not predict what training " \
                "learned about seen items"


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
    proc = cli("train", "--workspace", ws, "--max-seconds", 10)
    status = json.loads(cli("status", "--workspace", ws, "--json").stdout)
    activated = status["models"][1]["activation"].startswith("activated")
    assert [(m["version"], m["active"]) for m in status["models"]] == [("v0001", not activated), ("v0002", activated)]
    assert status["models"][1]["activation"] in proc.stderr  # the CLI says whether the round serves, and why
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


def write_tiny(tmp_path, user_prefix: str = "u", item_prefix: str = "i") -> tuple:
    items = tmp_path / "items.csv"
    pd.DataFrame({"item_id": [f"{item_prefix}{i}" for i in range(20)],
                  "title": ['=HYPERLINK("http://x","y")' if i == 0 else f"Book {i}" for i in range(20)]}).to_csv(items,
                                                                                                              index=False)
    rows = [(f"{user_prefix}{u}", f"{item_prefix}{(u + t) % 20}", t) for u in range(6) for t in range(5)]
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(log, index=False)
    return log, items


@pytest.mark.slow
def test_import_prints_the_summary_and_makes_an_untuned_model_without_training(tmp_path):
    log, items = write_tiny(tmp_path)
    proc = cli("import", "--interactions", log, "--items", items, "--workspace", tmp_path / "w")
    assert "users: 6" in proc.stdout and "interactions: 30" in proc.stdout and "[train]" not in proc.stderr
    status = json.loads(cli("status", "--workspace", tmp_path / "w", "--json").stdout)
    assert [(m["version"], m["kind"], m["active"]) for m in status["models"]] == [("v0001", "untuned", True)]


@pytest.mark.slow
def test_ids_of_any_shape_round_trip_through_thumbs_ledger_export_and_recommend(tmp_path):
    user, item = "customer:42 Zoë " + "x" * 180, "sku: 7/ü "
    log, items = write_tiny(tmp_path, user_prefix=user, item_prefix=item)
    ws = tmp_path / "w"
    cli("import", "--interactions", log, "--items", items, "--workspace", ws)
    cli("feedback", "--workspace", ws, "--user", f"{user}1", "--item", f"{item}3", "--label", "down")
    cli("feedback", "--workspace", ws, "--user", f"{user}1", "--item", f"{item}4", "--label", "up")
    cli("feedback", "--workspace", ws, "--user", f"{user}1", "--item", f"{item}4", "--label", "cleared")
    out = tmp_path / "recs.csv"
    cli("recommend", "--workspace", ws, "--user", f"{user}1", "-k", 20, "--out", out)
    recs = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(recs["user_id"]) == {f"{user}1"} and f"{item}3" not in set(recs["item_id"])
    assert f"{item}4" not in set(recs["item_id"])  # in the user's history: never recommended
    cli("export", "--workspace", ws, "--out", tmp_path / "export")
    ledger = pd.read_csv(tmp_path / "export" / "feedback.csv", dtype=str, keep_default_na=False)
    assert ledger[["user_id", "item_id", "label"]].values.tolist() == [
        [f"{user}1", f"{item}3", "down"], [f"{user}1", f"{item}4", "up"], [f"{user}1", f"{item}4", "cleared"]]


@pytest.mark.slow
def test_export_writes_items_and_ledger_with_formula_cells_neutralised(tmp_path):
    log, items = write_tiny(tmp_path)
    ws = tmp_path / "w"
    cli("import", "--interactions", log, "--items", items, "--workspace", ws)
    cli("feedback", "--workspace", ws, "--user", "u1", "--item", "i0", "--label", "down", "--annotator", "@ann")
    cli("export", "--workspace", ws, "--out", tmp_path / "out")
    exported = pd.read_csv(tmp_path / "out" / "items.csv", dtype=str, keep_default_na=False)
    assert list(exported.columns) == ["item_id", "title", "category", "text"] and len(exported) == 20
    assert exported.loc[exported.item_id == "i0", "title"].item() == "\'=HYPERLINK(\"http://x\",\"y\")"
    ledger = pd.read_csv(tmp_path / "out" / "feedback.csv", dtype=str, keep_default_na=False)
    assert ledger[["title", "annotator"]].values.tolist() == [["\'=HYPERLINK(\"http://x\",\"y\")", "\'@ann"]]
    assert (tmp_path / "out" / "v0001" / "weights.safetensors").exists()


@pytest.mark.slow
def test_evaluate_prints_every_model_on_both_protocols_and_writes_json(trained):
    ws, tmp, _ = trained
    proc = cli("evaluate", "--workspace", ws, "--json", tmp / "metrics.json")
    lines = proc.stdout.strip().splitlines()
    assert {line.split()[:2][0] for line in lines} == {"warm", "cold"}
    assert {line.split()[1] for line in lines} == {"tuned", "popularity", "itemknn", "ease", "untuned-encoder", "sasrec"}
    assert not [line for line in lines if line.startswith("cold sasrec")]  # an ID-only model: warm items only
    assert set(json.loads((tmp / "metrics.json").read_text())) == {"warm", "cold"}


def test_demo_writes_the_synthetic_data_set(tmp_path):
    cli("demo", "--out", tmp_path)
    log = pd.read_csv(tmp_path / "interactions.csv")
    items = pd.read_csv(tmp_path / "items.csv")
    assert (len(items), log["user_id"].nunique(), len(log)) == (1600, 700, 31574)
    assert (tmp_path / "items.csv").read_bytes() == (ROOT / "assets" / "demo" / "items.csv").read_bytes()


def test_a_cleared_thumb_is_accepted_by_the_cli(tmp_path):
    proc = cli("feedback", "--workspace", tmp_path, "--user", "u", "--item", "i", "--label", "cleared")
    assert "recorded #1: user u cleared i" in proc.stderr
