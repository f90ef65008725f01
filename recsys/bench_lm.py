"""The language-model stages in `python -m recsys bench`, on the demo data: what the re-ranker costs (training,
serving latency per user) and gains (warm and cold NDCG@10 with and without it), how far LoRA and full
encoder tuning move the encoder from its general sense of language (the forgetting guard's figures), and what
aligning the encoder to the trained item vectors does for new items (cold protocol, paired per user)."""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from recsys.config import TrainConfig
from recsys.service import Service, open_demo

LATENCY_USERS = 100


def bench_rerank(rows: list, config: TrainConfig = TrainConfig(rerank="on")) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = open_demo(Path(tmp))
        status = service.train(config, evaluate=True, background=False)
        version = service.ws.version(status.version)
        report = version.metrics.extra["rerank"]
        group = config.rerank_negatives + 1
        what = f"demo: re-ranker training, {report['groups']} groups of {group} on {report['device']} (s)"
        rows.append(("re-rank", what, f"{report['train_seconds']:.0f}"))
        rows.append(("re-rank", "demo: validation (fusion weight fit) (s)", f"{report['validation_seconds']:.0f}"))
        rows.append(("re-rank", "demo: round report", report["summary"]))
        for protocol, models in version.metrics.evaluation.items():
            without, with_ = models["tuned"], models.get("tuned+rerank", {})
            rows.append(("re-rank", f"demo {protocol}: NDCG@10 first stage / with the re-ranker (fusion weight)",
                         f"{without['ndcg']:.4f} / {with_.get('ndcg', float('nan')):.4f} "
                         f"({with_.get('fusion_weight', float('nan')):.1f})"))
        _latency_rows(service, version.name, config, rows)


def _latency_rows(service: Service, version: str, config: TrainConfig, rows: list) -> None:
    rec = service.recommender(version)
    users = rec.users()[:LATENCY_USERS]
    for label, served in (("first stage only", rec.first_stage()), (f"with the re-ranker (top {config.rerank_top_n})", rec)):
        seconds = []
        for user in users:
            t = time.perf_counter()
            served.recommend(user, 10, explain=0)
            seconds.append(time.perf_counter() - t)
        p50, p95 = np.percentile(seconds, [50, 95]) * 1000
        rows.append(("re-rank", f"demo: recommend latency per user, {label} (p50 / p95 ms)", f"{p50:.1f} / {p95:.1f}"))


def bench_drift(rows: list, pairs: int = TrainConfig().encoder_pairs) -> None:
    """Encoder tuning at the default pair count, LoRA and full: the forgetting guard's figures."""
    from recsys.encoder import DEFAULT_MODEL, TextEncoder
    from recsys.encoder_tuning import tune_encoder
    from recsys.feedback import FeedbackLedger
    with tempfile.TemporaryDirectory() as tmp:
        service = open_demo(Path(tmp))
        dataset, encoder = service.ws.load_dataset(), TextEncoder(DEFAULT_MODEL)
        thumbs = FeedbackLedger(service.ws.ledger_path).current_labels()
        for mode in ("lora", "full"):
            t = time.perf_counter()
            _, report = tune_encoder(encoder, dataset, thumbs, replace(TrainConfig(), encoder_tuning=mode,
                                                                       encoder_pairs=pairs))
            rows.append(("forgetting", f"{mode} encoder tuning, {pairs} pairs: similarity Spearman / mean cosine / "
                                       f"paraphrases kept (of 48) / seconds",
                         f"{report['drift_similarity_spearman']:.3f} / {report['drift_mean_cosine']:.3f} / "
                         f"{report['drift_paraphrases_found']} / {time.perf_counter() - t:.0f}"))


def bench_align(rows: list, config: TrainConfig = TrainConfig(encoder_tuning="align")) -> None:
    """Encoders aligned to taste on the cold protocol (items no one touched in training), demo data: the first
    stage fitted once on the protocol's training part, its new items placed by the frozen encoder and by the
    aligned one; per-user paired NDCG@10 (mean difference and its standard error) and the alignment's cost."""
    from recsys.baselines import ServedModel
    from recsys.comparison import FROZEN_ROW, TunedScorer, splits
    from recsys.encoder import DEFAULT_MODEL, TextEncoder, item_text_vectors
    from recsys.metrics import ndcg_gains, target_positions
    from recsys.protocols import rank_lists
    with tempfile.TemporaryDirectory() as tmp:
        service = open_demo(Path(tmp))
        dataset, encoder = service.ws.load_dataset(), TextEncoder(DEFAULT_MODEL)
        texts = dataset.items["text"].tolist()
        text = item_text_vectors(service.ws.cache_dir, texts, encoder)
        item_ids = dataset.items["item_id"].astype(str).to_numpy()
        split = splits(dataset, config)[1]
        scorer = TunedScorer(text, config, encoder=encoder, texts=texts)
        t = time.perf_counter()
        scorer.fit(split.train, item_ids)
        seconds = time.perf_counter() - t
        frozen = ServedModel(FROZEN_ROW, lambda _train, _ids: scorer.unaligned)
        frozen.fit(split.train, item_ids)
        users, targets = split.test["user_id"].astype(str).tolist(), split.test["item_id"].astype(str).tolist()
        gains = {name: ndcg_gains(target_positions([lists.get(u, []) for u in users], targets), 10)
                 for name, lists in (("aligned", rank_lists(scorer, split, item_ids)),
                                     ("frozen", rank_lists(frozen, split, item_ids)))}
    diff = gains["aligned"] - gains["frozen"]
    rows.append(("align", "demo cold: first stage + alignment on its training part (s)", f"{seconds:.0f}"))
    rows.append(("align", "demo cold: held-out items report", scorer.report["align_summary"]))
    rows.append(("align", f"demo cold: NDCG@10 new items placed by the frozen / aligned encoder ({len(users)} users)",
                 f"{gains['frozen'].mean():.4f} / {gains['aligned'].mean():.4f} "
                 f"(paired difference {diff.mean():+.4f} +- {diff.std(ddof=1) / np.sqrt(len(diff)):.4f})"))
