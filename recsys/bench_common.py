"""What the benchmark modules share: a command's output, the encode-rate rows, the training-rate rows."""
from __future__ import annotations

import subprocess
import time

import numpy as np

from recsys.service import ROOT


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 matrix-multiply rate (best of `repeats`), the yardstick for training speed."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def training_rows(label: str, version, n_items: int, rows: list) -> None:
    """Examples/s of a round and the share of the matmul peak that its softmax matmuls alone account for:
    per target, (columns x dim) multiply-adds forward, twice that backward, and the same for the text-only scores
    (every item up to text_softmax_items, on the share of the targets that text_loss_rows draws; -1: by the
    catalog's size, softmax.rows_by_scale)."""
    from recsys.config import TrainConfig
    from recsys.softmax import rows_by_scale
    config, m = TrainConfig.from_saved(version.config), version.metrics
    rate = m.train_examples_per_s or 0.0
    columns = n_items if n_items <= config.softmax_items else config.softmax_items + config.batch_size
    text = n_items if n_items <= config.text_softmax_items else columns  # the text-only scores: every item, or sampled
    count = config.text_loss_rows if config.text_loss_rows >= 0 else \
        rows_by_scale(n_items, n_items > config.softmax_items, config)
    drawn = min(1.0, count / config.batch_size) if count > 0 else 1.0
    flops = 6 * config.dim * (columns + (text * drawn if config.text_loss_weight > 0 else 0))
    peak = next((float(v) for a, w, v in rows if w.startswith("machine fp32 matmul peak")), None)
    share = f", ~{rate * flops / 1e9 / peak:.0%} of the matmul peak in the softmax" if peak else ""
    rows.append(("train", f"{label}: training examples/s ({m.extra.get('kind', config.kind)} model, "
                          f"{m.epochs} epochs, {m.stopped_by})", f"{rate:.0f}{share}"))


def encode_rows(rows: list, texts: list[str], area: str, what: str) -> None:
    from recsys.encoder import BF16_COPY_MIN, DEFAULT_MODEL, TextEncoder
    enc = TextEncoder(DEFAULT_MODEL)
    enc.encode(texts[:BF16_COPY_MIN])  # warm both paths up (ours: its bf16 copy of the weights, where used)
    enc.model.encode(texts[:64])
    t = time.perf_counter()
    ours = enc.encode(texts)
    ours_rate = len(texts) / (time.perf_counter() - t)
    t = time.perf_counter()
    plain = enc.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    plain_rate = len(texts) / (time.perf_counter() - t)
    cos = (ours * plain).sum(1)
    tokens = np.mean([len(ids) for ids in enc.model.tokenizer(texts[:500])["input_ids"]])
    rows += [(area, f"{len(texts):,} {what} (~{tokens:.0f} tokens each): project path (items/s)", f"{ours_rate:.0f}"),
             (area, "plain SentenceTransformer.encode, same texts, same run (items/s)", f"{plain_rate:.0f}"),
             (area, "speed-up", f"{ours_rate / plain_rate:.2f}x"),
             (area, "cosine agreement min / mean", f"{cos.min():.5f} / {cos.mean():.5f}"),
             (area, "precision used", str(enc.autocast_dtype()).replace("torch.", "") if enc.autocast_dtype() else "fp32")]
