from __future__ import annotations

import pytest

from recsys.config import TrainConfig
from recsys.errors import RecTuneError
from recsys.storage import atomic_write_json
from recsys.versions import VersionMetrics, VersionStore, is_version_name


def test_version_names():
    assert is_version_name("v0001") and is_version_name("v12345")
    assert not any(is_version_name(n) for n in ("v1", "ease", ".v0001.x", "v0001x"))


def test_metrics_json_reads_as_typed_fields_with_unknown_keys_kept():
    m = VersionMetrics.from_dict({"validation_ndcg@10": 0.12, "epochs": 3.0, "feedback_seen": 4,
                                  "evaluation": {"warm": {"tuned": {"ndcg": 0.2}}}, "drift_mean_cosine": 0.99})
    assert (m.validation_ndcg, m.epochs, m.feedback_seen) == (0.12, 3.0, 4)
    assert m.evaluated("warm") == 0.2 and m.evaluated("cold") is None
    assert m.extra == {"drift_mean_cosine": 0.99}
    assert VersionMetrics.from_dict(m.to_dict()) == m


def test_a_version_reads_back_its_training_config(tmp_path):
    store = VersionStore(tmp_path)
    saved = {**TrainConfig(dim=16).to_dict(), "kind": "adapter", "encoder_key": "k"}
    name = store.write(lambda folder: atomic_write_json(folder / "config.json", saved))
    version = store.get(name)
    assert (version.kind, version.encoder_key, version.train_config().dim, version.active) == ("adapter", "k", 16, True)
    untuned = store.get(store.write(lambda f: atomic_write_json(f / "config.json", {"kind": "untuned"}), activate=False))
    assert untuned.train_config() == TrainConfig() and not untuned.active
    with pytest.raises(RecTuneError, match="versions: v0001, v0002"):
        store.get("v0007")
