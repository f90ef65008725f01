"""The activation gate with hand-made models: item vectors are axes, so who wins validation is known."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.gate import decide, validation_split
from recsys.serving import ServingModel

IDS = np.array([f"i{i}" for i in range(6)], dtype=object)


def axis_model(vectors: np.ndarray) -> ServingModel:
    n, d = vectors.shape
    return ServingModel(IDS, vectors, vectors, np.zeros(n, np.float32), np.zeros(3, np.float32),
                        np.eye(d, dtype=np.float32), np.eye(d, dtype=np.float32))


def log() -> pd.DataFrame:
    """Every user: i0 -> i1 -> i2 ... (each next item follows the last one); validation = the last item."""
    rows = [(f"u{u}", f"i{(u + t) % 6}", t) for u in range(6) for t in range(4)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(row=np.arange(24))


def successor_model() -> ServingModel:
    """in-vector of item j points at item j+1's out-vector: the next item always scores highest."""
    out = np.eye(6, dtype=np.float32)
    return ServingModel(IDS, np.roll(out, 1, axis=1), out, np.zeros(6, np.float32), np.array([-9, -9, 0], np.float32),
                        np.eye(6, dtype=np.float32), np.eye(6, dtype=np.float32))


def test_the_validation_split_holds_out_each_validation_users_last_item():
    split = validation_split(log(), ["u0", "u1"])
    assert split.test.values.tolist() == [["u0", "i3"], ["u1", "i4"]] and len(split.train) == 22


def test_a_round_that_beats_the_active_version_and_the_baselines_is_activated():
    users = [f"u{u}" for u in range(6)]
    decision = decide(successor_model(), axis_model(np.eye(6, dtype=np.float32)), log(), users)
    assert decision.activate and decision.scores["new"] == 1.0 and decision.reason.startswith("activated")


def test_a_round_worse_than_the_active_version_is_kept_but_not_activated():
    users = [f"u{u}" for u in range(6)]
    decision = decide(axis_model(np.eye(6, dtype=np.float32)), successor_model(), log(), users)
    assert not decision.activate and decision.scores["active"] == 1.0
    assert decision.reason.startswith("kept but not activated") and "the active version (1.0000)" in decision.reason


def test_a_round_level_with_the_active_version_within_the_noise_is_activated():
    users = [f"u{u}" for u in range(6)]
    decision = decide(successor_model(), successor_model(), log(), users)
    assert decision.activate and "is level, within the noise" in decision.reason
