from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from recsys.feedback import Feedback, FeedbackLedger
from recsys.jobs import JobRunner
from recsys.pipeline import create_untuned_version, import_files, run_round
from recsys.recommend import Recommender
from recsys.training import Cancelled, TrainConfig
from recsys.workspace import Workspace

QUICK = TrainConfig(dim=8, max_history=5, epochs=3, batch_size=8, val_users=2, max_seconds=30, min_steps=1)


@pytest.fixture
def ws(tmp_path, tiny_files) -> Workspace:
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    return ws


def test_a_round_writes_an_immutable_version_with_config_metrics_and_safetensors(ws, fake_encoder):
    result = run_round(ws, QUICK, encoder_factory=lambda name: fake_encoder)
    folder = ws.models_dir / result.version
    assert result.version == "v0001" and ws.active_name() == "v0001"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "data.json", "feedback_seen.csv",
                                                       "item_ids.txt", "metrics.json", "weights.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["dim"] == 8 and config["encoder_key"] == "fake" and config["previous_version"] is None
    assert json.loads((folder / "data.json").read_text())["interactions"] == 11


def test_a_second_round_reencodes_nothing_and_reports_on_feedback(ws, fake_encoder):
    run_round(ws, QUICK, encoder_factory=lambda name: fake_encoder)
    encoded = fake_encoder.encoded
    ledger = FeedbackLedger(ws.ledger_path)
    ledger.add(Feedback("u1", "i4", "down"))
    ledger.add(Feedback("u1", "i5", "up"))
    result = run_round(ws, QUICK, encoder_factory=lambda name: fake_encoder)
    assert fake_encoder.encoded == encoded == 6
    report = result.metrics["feedback_report"]
    assert (report["ups"], report["downs"], result.metrics["feedback_seen"]) == (1, 1, 2)
    assert report["ups_in_top_k"] in (0.0, 1.0) and report["downs_kept_out"] in (0.0, 1.0)
    assert json.loads((ws.models_dir / "v0002" / "config.json").read_text())["previous_version"] == "v0001"


def test_cancel_keeps_the_previous_model_active(ws, fake_encoder):
    first = create_untuned_version(ws, lambda name: fake_encoder)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_round(ws, QUICK, cancel=cancel, encoder_factory=lambda name: fake_encoder)
    assert ws.active_name() == first and [v.name for v in ws.versions()] == [first]


def test_a_failed_round_in_the_runner_leaves_the_active_model_serving(ws, fake_encoder):
    first = create_untuned_version(ws, lambda name: fake_encoder)
    before = [r.item_id for r in Recommender.from_workspace(ws).recommend("u1", 3)]

    def broken(name):
        raise RuntimeError("encoder exploded")
    status = JobRunner(ws.root).start(lambda ev, c: run_round(ws, QUICK, [ev], c, encoder_factory=broken).version,
                                      background=False)
    assert status.state == "failed" and "encoder exploded" in status.message
    assert ws.active_name() == first
    assert [r.item_id for r in Recommender.from_workspace(ws).recommend("u1", 3)] == before


def test_the_untuned_version_ranks_by_text_similarity(ws, fake_encoder):
    create_untuned_version(ws, lambda name: fake_encoder)
    rec = Recommender.from_workspace(ws)
    # u2 read i3 (cake), i1 (space robot), i4 (bread); weights .81, .9, 1 (recency decay .9).
    # i2 (robot) shares 'robot' with i1: score = .9 / 2.71 * cos(i1, i2) = .9 / 2.71 / sqrt(2); i5, i6 tie at 0.
    top = rec.recommend("u2", 2)
    assert [r.item_id for r in top] == ["i2", "i5"]
    assert top[0].score == pytest.approx(0.9 / 2.71 / np.sqrt(2), rel=1e-5) and top[0].because == ("i1",)
    assert np.allclose(np.linalg.norm(rec.model.item_out, axis=1), 1.0)


def test_evaluate_round_scores_tuned_and_baselines_on_both_protocols(ws, fake_encoder):
    events = []
    result = run_round(ws, QUICK, [events.append], evaluate=True, encoder_factory=lambda name: fake_encoder)
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == ["load", "encode", "train", "evaluate: baselines", "evaluate: warm", "evaluate: cold",
                      "save"]  # the evaluation refits show as stages, not as silence
    refit = [e for e in events if e.stage == "evaluate: warm"]
    assert refit[0].message == "refitting on the warm protocol" and refit[-1].step == refit[-1].total
    assert all(e.loss is None for e in events if e.stage.startswith("evaluate"))  # not in the loss curve
    evaluation = result.metrics["evaluation"]
    assert set(evaluation) == {"warm", "cold"}
    assert set(evaluation["warm"]) == {"tuned", "popularity", "itemknn", "ease", "untuned-encoder"}
    assert evaluation["warm"]["popularity"]["users"] == 3  # u4 has only 2 interactions
