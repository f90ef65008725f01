"""Real processes on one workspace: rounds and an import run while other processes read it in a loop.
Every round lands as a complete version, no reader fails, and the data stay intact."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
TINY_ROUND = {"epochs": 2, "min_examples": 20_480, "check_every_examples": 10_240, "val_users": 20,
              "batch_size": 1024}  # one step an epoch; no early stop before 20 steps, checks every 10


def write_files(folder: Path, n_items: int, offset: int = 0) -> tuple[Path, Path]:
    items = pd.DataFrame({"item_id": [f"p:{i}" for i in range(n_items)],
                          "title": [f"{'Garden' if i % 2 else 'Kitchen'} tool {i}" for i in range(n_items)]})
    rows = [(f"u {u}", f"p:{(u + 3 * t + offset) % n_items}", 1_700_000_000 + t) for u in range(30) for t in range(6)]
    log, cat = folder / f"log{offset}.csv", folder / f"items{offset}.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(log, index=False)
    items.to_csv(cat, index=False)
    return log, cat


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)


def reader_loop(ws: Path, out: Path) -> subprocess.Popen:
    """A separate process calling `status` and `recommend` back to back until the file `stop` appears."""
    code = f"""
import subprocess, sys, pathlib, json
stop, out, fails, runs = pathlib.Path({str(out)!r}).with_name('stop'), pathlib.Path({str(out)!r}), [], 0
while not stop.exists():
    for args in (['status', '--json'], ['recommend', '--user', 'u 1', '-k', '5']):
        cmd = [sys.executable, '-m', 'recsys', *args, '--workspace', {str(ws)!r}]
        r = subprocess.run(cmd, capture_output=True, text=True)
        runs += 1
        if r.returncode != 0 or 'Traceback' in r.stderr:
            fails.append(r.stderr[-500:])
out.write_text(json.dumps({{'runs': runs, 'fails': fails}}))
"""
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=ENV)


def test_rounds_and_an_import_beside_reader_processes_lose_nothing(tmp_path):
    ws, config = tmp_path / "ws", tmp_path / "round.json"
    config.write_text(json.dumps(TINY_ROUND))
    log, cat = write_files(tmp_path, 24)
    assert cli("import", "--interactions", str(log), "--items", str(cat), "--workspace", str(ws)).returncode == 0
    readers = [reader_loop(ws, tmp_path / f"reader{i}.json") for i in range(2)]
    try:
        results = [cli("train", "--workspace", str(ws), "--config", str(config)) for _ in range(2)]
        log2, cat2 = write_files(tmp_path, 30, offset=1)
        results.append(cli("import", "--interactions", str(log2), "--items", str(cat2), "--workspace", str(ws)))
        results += [cli("train", "--workspace", str(ws), "--config", str(config)) for _ in range(2)]
    finally:
        (tmp_path / "stop").write_text("")
        for r in readers:
            r.wait(120)
    assert [r.returncode for r in results] == [0] * 5, [r.stderr[-800:] for r in results]
    for i in range(2):
        report = json.loads((tmp_path / f"reader{i}.json").read_text())
        assert report["runs"] > 0 and report["fails"] == [], report["fails"][:2]
    models = sorted(p.name for p in (ws / "models").iterdir())
    assert models == ["v0001", "v0002", "v0003", "v0004", "v0005", "v0006"]  # import, 2 rounds, import, 2 rounds
    complete = {"config.json", "metrics.json", "weights.safetensors", "item_ids.txt"}
    for name in models:
        assert complete <= {p.name for p in (ws / "models" / name).iterdir()}
    status = json.loads(cli("status", "--workspace", str(ws), "--json").stdout)
    assert status["data"]["items"] == 30 and status["data"]["interactions"] == 180


def test_an_import_is_refused_before_anything_changes_while_a_round_runs(tmp_path):
    ws = tmp_path / "ws"
    log, cat = write_files(tmp_path, 24)
    assert cli("import", "--interactions", str(log), "--items", str(cat), "--workspace", str(ws)).returncode == 0
    before = (ws / "data.json").read_text()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from recsys.jobs import runner_for; "
        f"runner_for({str(ws)!r}).start(lambda ev, c: time.sleep(30) or 'x', {{}}, background=False)")],
        cwd=ROOT, env=ENV)
    try:
        deadline = time.time() + 30
        while json.loads((ws / "job.json").read_text()).get("state") != "running" and time.time() < deadline:
            time.sleep(0.2)
        log2, cat2 = write_files(tmp_path, 30, offset=1)
        refused = cli("import", "--interactions", str(log2), "--items", str(cat2), "--workspace", str(ws))
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2 and "already running" in refused.stderr and "Traceback" not in refused.stderr
    assert (ws / "data.json").read_text() == before
