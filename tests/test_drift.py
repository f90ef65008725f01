from __future__ import annotations

import numpy as np
import pytest

from recsys.config import TrainConfig
from recsys.drift import PARAPHRASES, PROBE, drift_between, guard_reason, measure_drift
from recsys.encoder import DEFAULT_MODEL, TextEncoder
from recsys.reports import round_summary
from recsys.rounds import run_round
from recsys.service import ImportRequest, Service


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def paired_vectors(seed: int = 0) -> np.ndarray:
    """Each sentence's partner is a small step away from it: every paraphrase is the nearest neighbour."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(PARAPHRASES), 16))
    return unit(np.repeat(centres, 2, axis=0) + 0.05 * rng.normal(size=(len(PROBE), 16)))


def test_the_probe_is_24_paraphrase_pairs_side_by_side():
    assert len(PROBE) == 48 and len(set(PROBE)) == 48
    assert PROBE[0] == PARAPHRASES[0][0] and PROBE[1] == PARAPHRASES[0][1]


def test_an_unchanged_encoder_has_no_drift():
    a = paired_vectors()
    drift = drift_between(a, a)
    assert drift.mean_cosine == pytest.approx(1.0) and drift.similarity_spearman == pytest.approx(1.0)
    assert drift.paraphrases_found == drift.paraphrases_base == 48


def test_a_rotation_moves_every_vector_but_keeps_the_judgement_of_similarity():
    a = paired_vectors()
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))
    drift = drift_between(a, a @ rotation)
    assert drift.similarity_spearman == pytest.approx(1.0) and drift.paraphrases_found == 48
    assert drift.mean_cosine < 0.5


def test_scrambled_vectors_lose_the_paraphrases_and_the_order():
    a = paired_vectors()
    scrambled = a[np.random.default_rng(2).permutation(len(a))]
    drift = drift_between(a, scrambled)
    assert abs(drift.similarity_spearman) < 0.2 and drift.paraphrases_found < 10 and drift.paraphrases_base == 48


def test_the_guard_holds_back_only_an_encoder_below_the_threshold():
    figures = {"drift_similarity_spearman": 0.57, "drift_paraphrases_found": 30, "drift_paraphrases_base": 48}
    reason = guard_reason(figures, 0.8)
    assert reason.startswith("kept but not activated") and "forgetting guard" in reason
    assert "Spearman 0.57" in reason and "0.80" in reason and "30 of 48" in reason
    assert guard_reason(figures, 0.5) is None
    assert guard_reason({}, 0.8) is None  # no tuned encoder: nothing to guard


def test_the_packaged_encoder_matches_every_paraphrase_of_the_probe():
    encoder = TextEncoder(DEFAULT_MODEL, device="cpu")
    drift = measure_drift(encoder, encoder)
    assert drift.paraphrases_base == drift.paraphrases_found == 48 and drift.similarity_spearman == pytest.approx(1.0)


def test_a_round_whose_tuned_encoder_drifts_past_the_guard_is_kept_but_not_activated(tmp_path, tiny_files):
    """A real LoRA tuning of the packaged encoder; a guard of 1.0 refuses any change at all."""
    encoder = TextEncoder(DEFAULT_MODEL, device="cpu")
    service = Service(tmp_path / "w", lambda name: encoder)
    service.import_files(ImportRequest(*tiny_files))
    config = TrainConfig(dim=8, max_history=5, epochs=2, batch_size=8, val_users=2, min_examples=1, encoder_tuning="lora",
                         encoder_pairs=16, min_drift_spearman=1.0)
    result = run_round(service.ws, config, lambda name: encoder)
    version = service.ws.version(result.version)
    assert not version.active and service.ws.active_name() == "v0001"
    assert result.metrics["activated"] is False and "forgetting guard" in result.metrics["activation"]
    assert result.metrics["forgetting_guard"] == {"min_drift_spearman": 1.0, "passed": False}
    assert result.metrics["drift_probe_sentences"] == 48 and result.metrics["drift_similarity_spearman"] < 1.0
    assert (version.path / "encoder").is_dir()  # kept: it can still be activated by hand
    assert "drifted too far" in round_summary(version)
