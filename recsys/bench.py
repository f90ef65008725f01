"""`python -m recsys bench`: speed, memory and quality, printed as a table and written as JSON.
Numbers, not asserts: targets are read off this table (README), never from timed tests."""
from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.bench_common import encode_rows, matmul_peak_gflops, run, training_rows
from recsys.service import ROOT, Service

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
    encode_rows(rows, _texts(), "encode", "MovieLens texts" if (MOVIELENS / "movies.csv").exists() else "demo texts")


def bench_matmul(rows: list) -> None:
    rows.append(("train", "machine fp32 matmul peak, 2048x2048 (GFLOP/s)", f"{matmul_peak_gflops():.0f}"))


def bench_training_and_first_model(rows: list) -> None:
    from recsys.config import TrainConfig
    from recsys.demo import demo_paths
    from recsys.service import ImportRequest
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        service = Service(Path(tmp) / "demo")
        service.import_files(ImportRequest(*demo_paths(ROOT)))
        first = time.perf_counter() - t0
        status = service.train(TrainConfig(), evaluate=True, background=False)
        tuned = time.perf_counter() - t0
        metrics = service.ws.version(status.version).metrics
        t = time.perf_counter()
        run([sys.executable, "-m", "recsys", "status", "--workspace", str(service.ws.root), "--json"])
        rows.append(("cli", "`python -m recsys status` wall time, no torch import (s)", f"{time.perf_counter() - t:.2f}"))
        training_rows("demo data", service.ws.version(status.version), len(service.items()), rows)
        best = _demo_best_possible(service.ws.load_dataset())
    rows += [("demo data", "import -> first usable (untuned) model (s)", f"{first:.1f}"),
             ("demo data", "import -> first tuned and evaluated model (s)", f"{tuned:.1f}"),
             ("demo data", "model kind chosen", str(metrics.extra.get("kind_reason", "")))]
    for protocol, models in metrics.evaluation.items():  # the same defaults on a second data set
        for name in ("tuned", "untuned-encoder", "sasrec", "ease", "itemknn", "popularity"):
            if name not in models:
                continue
            m = models[name]
            rows.append(("quality", f"demo data {protocol}: {name}", f"HR@10={m['hr']:.4f} NDCG@10={m['ndcg']:.4f}"))
    rows.append(("quality", "demo data warm: the generator's own next-pick odds (about the best ranking possible)",
                 f"HR@10={best.hr:.4f} NDCG@10={best.ndcg:.4f}"))
    for mode in ("lora", "full"):
        rows.append(("train", f"encoder tuning, {mode} (pairs/s)", f"{_encoder_pairs_per_s(mode):.1f}"))


def _demo_best_possible(dataset):
    """The demo's warm protocol (the round's positives rule) ranked by the generator's own odds (demo.GeneratorOdds):
    what the tuned model's score there is to be read against, besides the baselines."""
    from recsys.comparison import splits
    from recsys.demo import GeneratorOdds, make_demo_hidden
    from recsys.protocols import evaluate
    _, catalog, tastes = make_demo_hidden()
    warm = splits(dataset)[0]
    return evaluate(GeneratorOdds(catalog, tastes), warm, dataset.items["item_id"].astype(str).to_numpy())


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


def bench_quality(rows: list) -> None:
    """The referee protocol end to end with the default settings (EVALUATION.md)."""
    with tempfile.TemporaryDirectory() as tmp:
        split = f"{tmp}/split"
        run([sys.executable, str(REFEREE), "split", "--interactions", str(MOVIELENS / "ratings.csv"), "--out", split])
        cold_shelf = ["--candidates", f"{split}/cold_items.txt"]
        for name, train, extra, flag in (("warm", "train.csv", [], []), ("cold", "cold_train.csv", cold_shelf, ["--cold"])):
            t = time.perf_counter()
            run([sys.executable, "-m", "recsys", "train", "--interactions", f"{split}/{train}",
                  "--items", str(MOVIELENS / "movies.csv"), "--workspace", f"{tmp}/ws-{name}"])
            seconds = time.perf_counter() - t
            run([sys.executable, "-m", "recsys", "recommend", "--workspace", f"{tmp}/ws-{name}", "--all-users",
                  "--out", f"{tmp}/recs-{name}.csv", *extra])
            recs = f"{tmp}/recs-{name}.csv"
            score = run([sys.executable, str(REFEREE), "score", "--split", split, "--recs", recs, *flag])
            rows += [("quality", f"ml-latest-small {name}: referee", score.strip()),
                     ("quality", f"ml-latest-small {name}: `recsys train` wall time (s)", f"{seconds:.0f}")]
            service = Service(f"{tmp}/ws-{name}")
            training_rows(f"ml-latest-small {name}", service.active_version(), len(service.items()), rows)
        t = time.perf_counter()
        _sasrec_recs(f"{tmp}/ws-warm", f"{tmp}/recs-sasrec.csv")
        score = run([sys.executable, str(REFEREE), "score", "--split", split, "--recs", f"{tmp}/recs-sasrec.csv"])
        rows += [("quality", "ml-latest-small warm: SASRec (library baseline, full-softmax CE): referee", score.strip()),
                 ("quality", "ml-latest-small warm: SASRec training wall time (s)", f"{time.perf_counter() - t:.0f}")]
        for line in run([sys.executable, str(REFEREE), "baselines", "--split", split]).strip().splitlines():
            rows.append(("quality", f"ml-latest-small warm baseline {line.split()[0]}", " ".join(line.split()[1:3])))


def _sasrec_recs(workspace: str, out: str, k: int = 10) -> None:
    """The library's SASRec baseline fitted on a workspace's log; its top-k per user as the referee reads them."""
    from recsys.baselines import SASRec
    service = Service(workspace)
    dataset = service.ws.load_dataset()
    item_ids = dataset.items["item_id"].astype(str).to_numpy()
    model = SASRec()
    model.fit(dataset.interactions, item_ids)
    users = sorted(model.sequences)
    rows = []
    for start in range(0, len(users), 256):
        batch = users[start:start + 256]
        scores = model.score(batch)
        for row, user in enumerate(batch):
            scores[row, model.sequences[user]] = -np.inf
            top = np.argsort(-scores[row], kind="stable")[:k]
            rows += [(user, item_ids[i], rank + 1, float(scores[row, i])) for rank, i in enumerate(top)]
    pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"]).to_csv(out, index=False)


def run_bench(json_path: str, quick: bool = False, large: bool = False, ray: bool = False) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    from recsys.bench_lm import bench_align, bench_drift, bench_rerank
    from recsys.bench_pages import bench_pages
    from recsys.bench_scale import bench_big_import, bench_large_round, bench_recommend, bench_softmax_crossover
    steps = [bench_matmul, bench_encode, bench_training_and_first_model, bench_softmax_crossover, bench_recommend,
             bench_big_import, bench_pages,
             bench_rerank, bench_drift, bench_align]
    if not quick and REFEREE.exists() and MOVIELENS.exists():
        steps.append(bench_quality)
    if large:
        steps = [bench_large_round]
    if ray:
        from recsys.bench_backends import bench_backends
        steps = [bench_backends]
    for step in steps:
        print(f"... {step.__name__}", file=sys.stderr, flush=True)
        try:
            step(rows)
        except Exception as exc:  # one broken measure must not hide the others' numbers
            rows.append((step.__name__, "failed", f"{type(exc).__name__}: {exc}"))
    rows.append(("memory", "peak RSS of this benchmark process (MB)",
                 f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"))
    print("| area | measure | value |\n|---|---|---|")
    for area, what, value in rows:
        print(f"| {area} | {what} | {value} |")
    Path(json_path).write_text(json.dumps([dict(zip(("area", "measure", "value"), r)) for r in rows], indent=1))
    return rows
