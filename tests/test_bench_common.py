"""The benchmark's training-rate row: examples/s and the softmax matmuls' share of the machine's peak."""
from types import SimpleNamespace

import pytest

from recsys.bench_common import training_rows
from recsys.config import TrainConfig
from recsys.versions import VersionMetrics

PEAK = ("machine", "machine fp32 matmul peak (GFLOP/s)", "200")


def _row(n_items: int, **settings) -> str:
    version = SimpleNamespace(config=TrainConfig(**settings).to_dict(),
                              metrics=VersionMetrics(epochs=3.0, stopped_by="patience", train_examples_per_s=10_000.0,
                                                     extra={"kind": "history"}))
    rows = [PEAK]
    training_rows("ml", version, n_items, rows)
    assert rows[0] == PEAK and len(rows) == 2
    return rows[1][2]


@pytest.mark.parametrize(("n_items", "settings", "share"), [
    # 6 x dim 128 x (4,096 sampled full columns + 9,216 text columns) x 10,000/s = 102 GFLOP/s of 200
    (9_216, {}, 51),
    (9_216, {"text_loss_rows": -1}, 24),  # by scale: 456 of 2,048 rows (2,048 x 2,048 / 9,216): 4,096 + 2,052 columns
    (9_216, {"text_loss_rows": 512}, 25),  # a quarter of the 2,048 targets: 4,096 + 2,304 columns
    (9_216, {"text_loss_rows": 4_096}, 51),  # more rows than a batch has: every row
    (9_216, {"text_loss_weight": 0.0}, 16),  # no text-only scores
    (1_000, {}, 8),  # a small catalog: full softmax on both paths
])
def test_share_counts_each_path_columns_and_the_drawn_text_rows(n_items, settings, share):
    assert _row(n_items, **settings) == f"10000, ~{share}% of the matmul peak in the softmax"


def test_no_peak_measured_gives_the_rate_alone_and_the_configured_kind():
    version = SimpleNamespace(config=TrainConfig().to_dict(),
                              metrics=VersionMetrics(epochs=2.5, stopped_by="epoch cap", train_examples_per_s=1234.4))
    rows = []
    training_rows("demo", version, 500, rows)
    assert rows == [("train", "demo: training examples/s (auto model, 2.5 epochs, epoch cap)", "1234")]
