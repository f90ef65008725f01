"""Faults with real processes: a killed training run and a refused import lose nothing that was there."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.test_cli import cli, trained  # noqa: F401  (module fixture: a workspace trained once)

pytestmark = pytest.mark.slow


def recs(ws, tmp, name: str) -> list[str]:
    out = tmp / f"{name}.csv"
    cli("recommend", "--workspace", ws, "--all-users", "-k", 5, "--out", out)
    return pd.read_csv(out, dtype=str).astype(str).values.tolist()


def test_killing_a_training_run_keeps_the_old_model_serving_and_reports_interrupted(trained):  # noqa: F811
    ws, tmp, _ = trained
    before_versions = json.loads(cli("status", "--workspace", ws, "--json").stdout)["models"]
    before = recs(ws, tmp, "before_kill")
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "train", "--workspace", ws, "--max-seconds", "60"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # kill -9 once the training loop runs
        if line.startswith("[train]"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    time.sleep(0.2)
    status = json.loads(cli("status", "--workspace", ws, "--json").stdout)
    assert status["job"]["state"] == "interrupted"
    assert status["models"] == before_versions
    assert recs(ws, tmp, "after_kill") == before
    assert not [p for p in (ws / "models").iterdir() if p.name.startswith(".")]


def test_a_refused_import_keeps_data_and_recommendations(trained):  # noqa: F811
    ws, tmp, _ = trained
    before = recs(ws, tmp, "before_refusal")
    report = json.loads(cli("status", "--workspace", ws, "--json").stdout)["data"]
    bad = tmp / "bad.csv"
    bad.write_bytes(b"PK\x03\x04 not really a csv")
    proc = cli("train", "--interactions", bad, "--items", tmp / "items.csv", "--workspace", ws, check=False)
    assert proc.returncode == 2 and "bad.csv: this is a zip archive" in proc.stderr
    assert json.loads(cli("status", "--workspace", ws, "--json").stdout)["data"] == report
    assert recs(ws, tmp, "after_refusal") == before
