"""The scale rows of `python -m recsys bench`: training cost per catalog size (the softmax crossover), per-user
latency exact and through the serving index, the Book-Crossing-shaped set's import and encoding, and (`--large`) a
whole round on it with every page timed in a browser."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.bench_common import encode_rows, run, training_rows
from recsys.service import ROOT, Service


def step_rate(text: np.ndarray, config, steps: int = 3, seed: int = 0) -> float:
    """Training examples/s of the history model's steps on `text` (n_items, text_dim) with synthetic Zipf-like
    targets: the cost of one step at this catalog size, full or sampled softmax as `config` says. The first step
    is a warm-up."""
    from dataclasses import replace

    from recsys.sequences import Examples
    from recsys.step import StepLoss, lazy_ids, make_optimiser, train_step
    from recsys.trainer import batches_of, build_model, target_counts
    rng = np.random.default_rng(seed)
    n = len(text)
    popularity = 1.0 / np.arange(1, n + 1)
    draw = lambda size: rng.choice(n, size=size, p=popularity / popularity.sum())
    rows = config.batch_size * (steps + 1)
    examples = Examples(draw((rows, config.max_history)), draw(rows), np.ones(rows, np.float32))
    counts = target_counts(examples, n)
    model = build_model(text.astype(np.float32), np.ones(n, bool), replace(config, kind="history"),
                        lazy_ids(counts, config))  # as a round trains: lazy ID-table updates where it would
    model.target_counts = counts
    model.train()
    optim = make_optimiser(model, config)
    no_downs = Examples(np.zeros((0, config.max_history), np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    batches = batches_of(rows, config.batch_size, rng)
    step = StepLoss(model)
    train_step(step, optim, examples, next(batches), (no_downs, no_downs), config, "cpu", rng)
    t = time.perf_counter()
    for _ in range(steps):
        train_step(step, optim, examples, next(batches), (no_downs, no_downs), config, "cpu", rng)
    return steps * config.batch_size / (time.perf_counter() - t)


def bench_softmax_crossover(rows: list, sizes=(2_000, 10_000, 50_000, 100_000, 250_000)) -> None:
    """Training steps/s of the history model with the full softmax on both paths, with only the full (text + ID)
    scores sampled, and with both sampled, per catalog size (random text vectors: the cost depends on the size
    only). Where the full softmax stops paying off sets `softmax_items` and `text_softmax_items`."""
    from recsys.config import TrainConfig
    rng = np.random.default_rng(0)
    settings = {"full softmax": dict(softmax_items=10**9, text_softmax_items=10**9),
                "ID scores sampled": dict(softmax_items=2048, text_softmax_items=10**9),
                "both sampled": dict(softmax_items=2048, text_softmax_items=16)}
    for n in sizes:
        text = rng.standard_normal((n, 384), dtype=np.float32)
        rates = {name: step_rate(text, TrainConfig(**kw), steps=2 if n >= 100_000 else 4) for name, kw in settings.items()}
        rows.append(("train", f"{n:,} items: examples/s, " + " / ".join(settings),
                     " / ".join(f"{r:.0f}" for r in rates.values())))
        print(rows[-1], file=sys.stderr, flush=True)


def bench_recommend(rows: list) -> None:
    """Per-user latency of a full top 10, exact and (at 1M items) through the calibrated approximate index.
    The vectors are synthetic with a taste structure (items around 2,000 topic centres, each user's history drawn
    from 3 topics), as trained item vectors have (the README gives the index's recall on real trained vectors)."""
    from recsys.ann import exact_top, recall_at
    from recsys.synthetic import taste_catalog
    for n in (10_000, 100_000, 1_000_000):
        model, log = taste_catalog(n)
        exact = _serving_times(_recommender(model, log, ann_min_items=n + 1), log)
        rows.append(("recommend", f"one user, {n:,} items, exact: p50 / p95 (ms)", _p50_p95(exact)))
        if n < 1_000_000:
            continue
        rec = _recommender(model, log, ann_min_items=n)
        t = time.perf_counter()
        stats = rec.ann().stats
        build = time.perf_counter() - t
        served = _serving_times(rec, log)
        calibrated = set(rec.calibration_users())
        users = [u for u in sorted(rec.sequences) if u not in calibrated]
        hidden = [rec.sequences[u] for u in users]
        vectors = np.stack([model.user_vector(h) for h in hidden])
        truth = exact_top(model.item_out, model.item_bias, vectors, hidden, 10)
        width = f"IVF, {stats.width} of {stats.lists} lists" if stats.kind == "ivf" else f"HNSW, efSearch {stats.width}"
        rows += [("recommend", f"one user, {n:,} items, approximate index ({width}): p50 / p95 (ms)", _p50_p95(served)),
                 ("recommend", f"{n:,} items: index recall@10 vs exact, calibration users / the other users",
                  f"{stats.recall:.4f} / {recall_at(rec.ann(), vectors, hidden, truth, 10):.4f}"),
                 ("recommend", f"{n:,} items: index build + calibration (s)", f"{build:.1f}")]


def _recommender(model, log, ann_min_items: int):
    from recsys.recommend import Recommender
    return Recommender(model, log, ann_min_items=ann_min_items)


def _serving_times(rec, log, n: int = 100) -> list[float]:
    users = sorted(rec.sequences)[:n]
    rec.recommend(users[0], 10, explain=0)  # warm-up (and, for the index, its build)
    times = []
    for user in users:
        t = time.perf_counter()
        rec.recommend(user, 10, explain=0)
        times.append(time.perf_counter() - t)
    return times


def _p50_p95(times: list[float]) -> str:
    p50, p95 = np.percentile(times, [50, 95]) * 1000
    return f"{p50:.1f} / {p95:.1f}"


def bench_big_import(rows: list) -> None:
    """The synthetic set of Book-Crossing's shape (synthetic.large_ratings_set: ~1M ratings, ~100k users, 250k books,
    no time column): import time and peak memory in a child process (measured alone), then the encode rate on its
    own texts, the project's path against plain SentenceTransformer.encode in the same run."""
    from recsys.synthetic import large_ratings_set
    with tempfile.TemporaryDirectory() as tmp:
        ratings, books = large_ratings_set(tmp)
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child would report our peak.
        code = ("import re, sys, time; from recsys.data import import_dataset; t = time.time(); "
                f"ds = import_dataset('{ratings}', '{books}'); "
                "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
                "print(time.time() - t, int(hwm) / 1024, len(ds.interactions), ds.report.users, len(ds.items)); "
                "ds.items['text'].sample(4000, random_state=0).to_csv(sys.argv[1], index=False)")
        out = subprocess.run([sys.executable, "-c", code, f"{tmp}/texts.csv"], cwd=ROOT, capture_output=True, text=True,
                             check=True)
        seconds, peak, n_rows, n_users, n_items = map(float, out.stdout.split())
        texts = pd.read_csv(f"{tmp}/texts.csv")["text"].astype(str).tolist()
    shape = f"{n_rows:,.0f} ratings, {n_users:,.0f} users, {n_items:,.0f} items"
    rows += [("large set", f"import ({shape}): time (s)", f"{seconds:.1f}"),
             ("large set", "import: peak RSS (MB)", f"{peak:.0f}")]
    encode_rows(rows, texts, "large set", "of its texts")


def stage_rows(label: str, metrics: dict, seconds: float) -> list[tuple[str, str, str]]:
    """Where a round's time went (its report's stage_seconds and kind_seconds), and the round without encoding
    the catalog (which a cached catalog skips; the encoding rate is a row of its own)."""
    stages, kinds = dict(metrics.get("stage_seconds") or []), metrics.get("kind_seconds") or {}  # in time order
    if not stages:
        return []
    parts = [f"{stage} {value:.0f}" for stage, value in stages.items()]
    kinds_said = ", ".join(f"{kind} model {value:.0f}" for kind, value in kinds.items())
    return [(label, "the round's stages (s; validation checks apart from training)",
             ", ".join(parts) + (f" (training and its checks by kind: {kinds_said})" if kinds_said else "")),
            (label, "the round without encoding the catalog (s)", f"{seconds - stages.get('encode', 0.0):.0f}")]


def bench_large_round(rows: list, shape: dict | None = None) -> None:
    """The whole path at Book-Crossing's shape: `recsys train` (import, encoding 250,000 texts, a default round)
    as a CLI process, its wall time and peak memory and the round's own figures; then every page in a browser."""
    from recsys.bench_pages import large_page_rows
    from recsys.synthetic import large_ratings_set
    with tempfile.TemporaryDirectory() as tmp:
        ratings, books = large_ratings_set(f"{tmp}/files", **(shape or {}))
        home = Path(tmp) / "home"
        t = time.perf_counter()
        code = ("import re, sys; from recsys.cli import main; rc = main(sys.argv[1:]); "
                "print('VmHWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); sys.exit(rc)")
        out = run([sys.executable, "-c", code, "train", "--interactions", str(ratings), "--items", str(books),
                    "--workspace", str(home / "books")])
        wall = time.perf_counter() - t
        peak = int(out.rsplit("VmHWM", 1)[1].split()[0]) / 1024
        service = Service(home / "books")
        version = service.active_version() or service.versions()[-1]
        m, start = version.metrics, len(rows)
        rows += [("large set", "`recsys train` from the files: wall time, import + encoding + round (s)", f"{wall:.0f}"),
                 ("large set", "`recsys train`: peak RSS (MB)", f"{peak:.0f}"),
                 ("large set", "the round, from loading the data to the saved version, encoding included (s)",
                  f"{m.seconds:.0f}"),
                 ("large set", "model kind chosen", str(m.extra.get("kind_reason", "")))]
        rows += stage_rows("large set", m.extra, m.seconds)
        training_rows("large set", version, len(service.items()), rows)
        for row in rows[start:]:
            print(row, file=sys.stderr, flush=True)
        large_page_rows(home, rows)
