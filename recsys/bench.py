"""`python -m recsys bench`: speed, memory and quality, printed as a table and written as JSON.
Numbers, not asserts: targets are read off this table (README), never from timed tests."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.service import ROOT

SHARED = ROOT.parent / "shared"
MOVIELENS = SHARED / "data" / "ml-latest-small"
REFEREE = SHARED / "tools" / "recbench.py"


def _texts(n: int = 2000) -> list[str]:
    if (MOVIELENS / "movies.csv").exists():
        m = pd.read_csv(MOVIELENS / "movies.csv")
        return [f"{t}. Genres: {', '.join(g.split('|'))}" for t, g in zip(m.title, m.genres)][:n]
    from recsys.demo import make_demo
    _, items = make_demo()
    return (items["title"] + ". " + items["description"]).tolist()[:n]


def bench_encode(rows: list) -> None:
    from recsys.encoder import DEFAULT_MODEL, TextEncoder
    texts = _texts()
    enc = TextEncoder(DEFAULT_MODEL)
    enc.encode(texts[:64])
    enc.model.encode(texts[:64])  # warm both paths up
    t = time.perf_counter()
    ours = enc.encode(texts)
    ours_rate = len(texts) / (time.perf_counter() - t)
    t = time.perf_counter()
    plain = enc.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    plain_rate = len(texts) / (time.perf_counter() - t)
    cos = (ours * plain).sum(1)
    rows += [("encode", "project path (items/s)", f"{ours_rate:.0f}"),
             ("encode", "plain SentenceTransformer.encode (items/s)", f"{plain_rate:.0f}"),
             ("encode", "speed-up", f"{ours_rate / plain_rate:.2f}x"),
             ("encode", "cosine agreement min / mean", f"{cos.min():.5f} / {cos.mean():.5f}"),
             ("encode", "precision used", str(enc.autocast_dtype()).replace("torch.", "") or "fp32")]


def bench_training_and_first_model(rows: list) -> None:
    from recsys.config import TrainConfig
    from recsys.demo import demo_paths
    from recsys.service import ImportRequest, Service
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        service = Service(Path(tmp) / "demo")
        service.import_files(ImportRequest(*demo_paths(ROOT)))
        first = time.perf_counter() - t0
        status = service.train(TrainConfig(), evaluate=True, background=False)
        tuned = time.perf_counter() - t0
        metrics = service.ws.version(status.version).metrics
        t = time.perf_counter()
        _run([sys.executable, "-m", "recsys", "status", "--workspace", str(service.ws.root), "--json"])
        rows.append(("cli", "`python -m recsys status` wall time, no torch import (s)", f"{time.perf_counter() - t:.2f}"))
    rows += [("demo data", "import -> first usable (untuned) model (s)", f"{first:.1f}"),
             ("demo data", "import -> first tuned and evaluated model (s)", f"{tuned:.1f}"),
             ("train", "adapter training (examples/s)", f"{metrics.train_examples_per_s:.0f}")]
    for protocol, models in metrics.evaluation.items():  # the same defaults on a second data set
        for name in ("tuned", "untuned-encoder", "ease", "itemknn", "popularity"):
            m = models[name]
            rows.append(("quality", f"demo data {protocol}: {name}", f"HR@10={m['hr']:.4f} NDCG@10={m['ndcg']:.4f}"))
    for mode in ("lora", "full"):
        rows.append(("train", f"encoder tuning, {mode} (pairs/s)", f"{_encoder_pairs_per_s(mode):.1f}"))


def _encoder_pairs_per_s(mode: str, pairs: int = 64) -> float:
    from recsys.config import TrainConfig
    from recsys.data import Dataset, ImportReport
    from recsys.demo import make_demo
    from recsys.encoder import shared_encoder
    from recsys.encoder_tuning import tune_encoder
    events, items = make_demo(200, 50)
    items = items.assign(text=items["title"] + ". " + items["description"])
    events = events.assign(row=np.arange(len(events)))
    ds = Dataset(events, items, ImportReport(0, 0, 0, 0, 0.0, "", "", 0))
    config = TrainConfig(encoder_tuning=mode, encoder_pairs=pairs)
    t = time.perf_counter()
    tune_encoder(shared_encoder(config.encoder_model), ds, pd.DataFrame(columns=["user_id", "item_id", "label"]), config)
    return pairs / (time.perf_counter() - t)


def bench_recommend(rows: list) -> None:
    from recsys.recommend import Recommender
    from recsys.serving import ServingModel
    rng = np.random.default_rng(0)
    for n in (10_000, 100_000, 1_000_000):
        vec = rng.standard_normal((n, 128), dtype=np.float32)
        ids = np.array([f"i{i:07d}" for i in range(n)], dtype=object)
        model = ServingModel(ids, vec, vec, np.zeros(n, np.float32), np.zeros(50, np.float32),
                             np.zeros((128, 384), np.float32), np.zeros((128, 384), np.float32))
        log = pd.DataFrame({"user_id": "u", "item_id": ids[rng.choice(n, 50)], "timestamp": np.arange(50),
                            "row": np.arange(50)})
        rec = Recommender(model, log)
        times = []
        for _ in range(30):
            t = time.perf_counter()
            rec.recommend("u", 10)
            times.append(time.perf_counter() - t)
        p50, p95 = np.percentile(times, [50, 95]) * 1000
        rows.append(("recommend", f"one user, {n:,} items: p50 / p95 (ms)", f"{p50:.1f} / {p95:.1f}"))


def bench_big_import(rows: list, n_rows: int = 1_000_000) -> None:
    """Peak memory of importing a 1M-row log, in a child process so it is measured alone."""
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        items = pd.DataFrame({"item_id": [f"i{i}" for i in range(20_000)], "title": [f"Item {i}" for i in range(20_000)]})
        log = pd.DataFrame({"user_id": rng.integers(0, 50_000, n_rows).astype(str),
                            "item_id": "i" + pd.Series(rng.integers(0, 20_000, n_rows)).astype(str),
                            "timestamp": rng.integers(1.6e9, 1.7e9, n_rows)})
        items.to_csv(f"{tmp}/items.csv", index=False)
        log.to_csv(f"{tmp}/log.csv", index=False)
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report our peak.
        code = ("import re, time; from recsys.data import import_dataset; t = time.time(); "
                f"import_dataset('{tmp}/log.csv', '{tmp}/items.csv'); "
                "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
                "print(time.time() - t, int(hwm) / 1024)")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        seconds, peak = map(float, out.stdout.split())
    rows += [("memory", f"import of a {n_rows:,}-row log: peak RSS (MB)", f"{peak:.0f}"),
             ("memory", f"import of a {n_rows:,}-row log: time (s)", f"{seconds:.1f}")]


def bench_quality(rows: list) -> None:
    """The referee protocol end to end with the default settings (EVALUATION.md)."""
    with tempfile.TemporaryDirectory() as tmp:
        split = f"{tmp}/split"
        _run([sys.executable, str(REFEREE), "split", "--interactions", str(MOVIELENS / "ratings.csv"), "--out", split])
        cold_shelf = ["--candidates", f"{split}/cold_items.txt"]
        for name, train, extra, flag in (("warm", "train.csv", [], []), ("cold", "cold_train.csv", cold_shelf, ["--cold"])):
            t = time.perf_counter()
            _run([sys.executable, "-m", "recsys", "train", "--interactions", f"{split}/{train}",
                  "--items", str(MOVIELENS / "movies.csv"), "--workspace", f"{tmp}/ws-{name}"])
            seconds = time.perf_counter() - t
            _run([sys.executable, "-m", "recsys", "recommend", "--workspace", f"{tmp}/ws-{name}", "--all-users",
                  "--out", f"{tmp}/recs-{name}.csv", *extra])
            recs = f"{tmp}/recs-{name}.csv"
            score = _run([sys.executable, str(REFEREE), "score", "--split", split, "--recs", recs, *flag])
            rows += [("quality", f"ml-latest-small {name}: referee", score.strip()),
                     ("quality", f"ml-latest-small {name}: `recsys train` wall time (s)", f"{seconds:.0f}")]
        for line in _run([sys.executable, str(REFEREE), "baselines", "--split", split]).strip().splitlines():
            rows.append(("quality", f"ml-latest-small warm baseline {line.split()[0]}", " ".join(line.split()[1:3])))


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def run_bench(json_path: str, quick: bool = False) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    steps = [bench_encode, bench_training_and_first_model, bench_recommend, bench_big_import]
    if not quick and REFEREE.exists() and MOVIELENS.exists():
        steps.append(bench_quality)
    for step in steps:
        print(f"... {step.__name__}", file=sys.stderr, flush=True)
        step(rows)
    rows.append(("memory", "peak RSS of this benchmark process (MB)",
                 f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"))
    print("| area | measure | value |\n|---|---|---|")
    for area, what, value in rows:
        print(f"| {area} | {what} | {value} |")
    Path(json_path).write_text(json.dumps([dict(zip(("area", "measure", "value"), r)) for r in rows], indent=1))
    return rows
