"""`python -m recsys bench --ray`: the same round on the local backend and on a local Ray cluster
(`train --backend ray`, 2 workers): wall time, training examples/s and leave-last-out NDCG@10 on the demo
generator's data, and catalog encoding in this process against a Ray Data job. The README's scaling table is
extrapolated from these rows."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.bench_common import run
from recsys.service import Service


def leave_last_out(log: Path, out: Path) -> pd.DataFrame:
    """Writes the log without each user's last interaction to `out`; returns those (user_id, item_id) rows."""
    events = pd.read_csv(log, dtype={"user_id": str, "item_id": str})
    events = events.sort_values(["user_id", "timestamp"], kind="mergesort")
    last = events.groupby("user_id").tail(1).index
    events.drop(index=last).to_csv(out, index=False)
    return events.loc[last, ["user_id", "item_id"]].reset_index(drop=True)


def list_ndcg(lists: pd.DataFrame, held: pd.DataFrame) -> float:
    """NDCG of each held-out item in its user's list (user_id, item_id, rank), averaged over all held-out rows."""
    ranks = held.merge(lists.astype({"user_id": str, "item_id": str}), on=["user_id", "item_id"], how="left")["rank"]
    return float(np.where(ranks.notna(), 1 / np.log2(ranks.fillna(0).astype(float) + 1), 0.0).sum() / len(held))


def bench_backends(rows: list, n_items: int = 1600, n_users: int = 700, workers: int = 2) -> None:
    from recsys.demo import write_demo
    cli = [sys.executable, "-m", "recsys"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log, items = write_demo(folder / "data", n_items, n_users)
        held = leave_last_out(log, folder / "train.csv")
        for kind, backend in [(k, b) for k in ("history", "attention") for b in ("local", "ray")]:
            ws = folder / f"{kind}-{backend}"
            t = time.perf_counter()
            run([*cli, "train", "--workspace", str(ws), "--interactions", str(folder / "train.csv"), "--items",
                 str(items), "--kind", kind, "--backend", backend, "--workers", str(workers)])
            wall = time.perf_counter() - t
            # the round's own version, whether or not the activation gate made it active
            run([*cli, "recommend", "--workspace", str(ws), "--all-users", "-k", "10", "--version", "v0001", "--out",
                 str(folder / "l.csv")])
            rate = Service(ws, create=False).ws.version("v0001").metrics.train_examples_per_s or 0.0
            ndcg = list_ndcg(pd.read_csv(folder / "l.csv", dtype=str).astype({"rank": int}), held)
            label = "local (one process)" if backend == "local" else f"ray ({workers} workers, DDP)"
            rows.append(("backends", f"demo round, {kind} model, {label}: wall s (encode + train + save) / "
                                     "training examples/s / leave-last-out NDCG@10",
                         f"{wall:.0f} / {rate:.0f} / {ndcg:.4f}"))
        bench_encoding(rows, workers)


def bench_encoding(rows: list, workers: int, n_texts: int = 6000) -> None:
    """Catalog encoding into a fresh cache: this process (TextEncoder, torch's threads) against a Ray Data job
    over `workers` encoder actors (each loads the model: counted)."""
    from recsys.demo import make_catalog
    from recsys.distributed import RayEncoder, connect
    from recsys.encoder import DEFAULT_MODEL, EmbeddingCache, TextEncoder
    catalog = make_catalog(n_texts, np.random.default_rng(1))
    texts = (catalog["title"] + ". " + catalog["description"].fillna("")).tolist()
    local = TextEncoder(DEFAULT_MODEL)
    t = time.perf_counter()
    connect(workers)
    started = time.perf_counter() - t
    rates, vectors = {}, {}
    for name, encoder in (("local", local), ("ray", RayEncoder(local, DEFAULT_MODEL, workers))):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            vectors[name] = EmbeddingCache(cache, encoder).encode(texts)
            rates[name] = len(texts) / (time.perf_counter() - t)
    cos = (vectors["local"] * vectors["ray"]).sum(1)
    rows += [("backends", f"{n_texts:,} catalog texts: encode items/s, this process / Ray Data ({workers} actors, "
                          "model load included)", f"{rates['local']:.0f} / {rates['ray']:.0f}"),
             ("backends", "Ray: local cluster start (s); cosine Ray vs local, min", f"{started:.1f}; {cos.min():.6f}")]
