"""The scale benchmark's step timer runs the real training step (a broken call would only show as a 'failed'
row in the benchmark table)."""
from __future__ import annotations

import numpy as np

from recsys.bench_scale import step_rate
from recsys.config import TrainConfig


def test_step_rate_times_real_steps_full_and_sampled():
    text = np.random.default_rng(0).standard_normal((300, 16), dtype=np.float32)
    for softmax_items in (10**9, 32):
        rate = step_rate(text, TrainConfig(dim=8, batch_size=64, max_history=5, softmax_items=softmax_items), steps=1)
        assert np.isfinite(rate) and rate > 0
