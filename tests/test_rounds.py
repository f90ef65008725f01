from __future__ import annotations

import json
import threading
from dataclasses import replace

import numpy as np
import pytest

from recsys.config import TrainConfig
from recsys.events import Cancelled
from recsys.feedback import Feedback, FeedbackLedger
from recsys.jobs import JobRunner
from recsys.recommend import Recommender
from recsys.rounds import create_untuned_version, feedback_report, run_round
from recsys.service import ImportRequest, Service
from recsys.serving import ServingModel
from recsys.workspace import Workspace

QUICK = TrainConfig(dim=8, max_history=5, epochs=3, batch_size=8, val_users=2, max_seconds=30, min_examples=1)


@pytest.fixture
def ws(tmp_path, tiny_files, fake_encoder) -> Workspace:
    """The tiny data imported (which also makes the untuned v0001)."""
    service = Service(tmp_path / "w", lambda name: fake_encoder)
    service.import_files(ImportRequest(*tiny_files))
    return service.ws


def factory(encoder):
    return lambda name: encoder


def test_a_round_writes_an_immutable_version_with_config_metrics_and_safetensors(ws, fake_encoder):
    result = run_round(ws, QUICK, factory(fake_encoder))
    folder = ws.models_dir / result.version
    assert result.version == "v0002"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "data.json", "feedback_seen.csv",
                                                       "item_ids.txt", "metrics.json", "weights.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["dim"] == 8 and config["encoder_key"] == "fake" and config["previous_version"] == "v0001"
    assert json.loads((folder / "data.json").read_text())["interactions"] == 11
    metrics = ws.version("v0002").metrics
    assert metrics.extra["activated"] == (ws.active_name() == "v0002")  # the gate's decision is what happened
    assert metrics.extra["activation"].startswith("activated" if metrics.extra["activated"] else "kept but not")
    stages = metrics.extra["stage_seconds"]  # (stage, seconds) in the order they ran; too few users to validate
    assert [stage for stage, _ in stages] == ["load", "train", "save"]
    assert all(value >= 0 for _, value in stages) and sum(value for _, value in stages) <= metrics.seconds + 0.5
    assert sorted(metrics.extra["kind_seconds"]) == ["attention", "history"]  # auto: both kinds trained
    assert metrics.extra["text_loss_rows"] == 0  # the text-only loss on every row (softmax.text_row_count)


def test_a_second_round_reencodes_nothing_and_reports_on_feedback(ws, fake_encoder):
    run_round(ws, QUICK, factory(fake_encoder))
    encoded = fake_encoder.encoded
    ledger = FeedbackLedger(ws.ledger_path)
    ledger.add(Feedback("u1", "i4", "down"))
    ledger.add(Feedback("u1", "i5", "up"))
    # A heavy thumb weight: of u1's three unseen items (i4, i5, i6) the up i5 must be in the top 2, the down
    # i4 out of it. (The round's own report uses k=10, which every item of this 6-item catalog is in.)
    result = run_round(ws, replace(QUICK, feedback_weight=50.0, epochs=30), factory(fake_encoder))
    assert fake_encoder.encoded == encoded == 6
    report = result.metrics["feedback_report"]
    assert (report["ups"], report["downs"], result.metrics["feedback_seen"]) == (1, 1, 2)
    model = ServingModel.load(ws.models_dir / result.version)
    strict = feedback_report(model, ws.load_dataset(), ledger.current_labels(), k=2)
    assert (strict["ups_in_top_k"], strict["downs_kept_out"]) == (1.0, 1.0)


def test_cancel_keeps_the_previous_model_active(ws, fake_encoder):
    first = ws.active_name()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        run_round(ws, QUICK, factory(fake_encoder), cancel=cancel)
    assert ws.active_name() == first and [v.name for v in ws.versions()] == [first]


def test_a_failed_round_in_the_runner_leaves_the_active_model_serving(ws, fake_encoder):
    first = ws.active_name()
    before = [r.item_id for r in Recommender.from_workspace(ws).recommend("u1", 3)]

    def broken(name):
        raise RuntimeError("encoder exploded")
    status = JobRunner(ws.root).start(lambda ev, c: run_round(ws, QUICK, broken, [ev], c).version, background=False)
    assert status.state == "failed" and "encoder exploded" in status.message
    assert ws.active_name() == first
    assert [r.item_id for r in Recommender.from_workspace(ws).recommend("u1", 3)] == before


def test_the_untuned_version_ranks_by_text_similarity(ws, fake_encoder):
    assert create_untuned_version(ws, factory(fake_encoder)) == "v0002"
    rec = Recommender.from_workspace(ws)
    # u2 read i3 (cake), i1 (space robot), i4 (bread); weights .81, .9, 1 (recency decay .9).
    # i2 (robot) shares 'robot' with i1: score = .9 / 2.71 * cos(i1, i2) = .9 / 2.71 / sqrt(2); i5, i6 tie at 0.
    top = rec.recommend("u2", 2)
    assert [r.item_id for r in top] == ["i2", "i5"]
    assert top[0].score == pytest.approx(0.9 / 2.71 / np.sqrt(2), rel=1e-5) and top[0].because == ("i1",)
    assert np.allclose(np.linalg.norm(rec.model.item_out, axis=1), 1.0)


def test_evaluate_round_scores_tuned_and_baselines_on_both_protocols(ws, fake_encoder):
    events = []
    result = run_round(ws, QUICK, factory(fake_encoder), [events.append], evaluate=True)
    stages = list(dict.fromkeys(e.stage for e in events))
    # Nothing to encode (the import cached every text); the evaluation refits show as stages, not as silence.
    assert stages == ["load", "train", "evaluate: baselines", "evaluate: warm", "evaluate: cold", "save"]
    refit = [e for e in events if e.stage == "evaluate: warm"]
    assert refit[0].message == "refitting on the warm protocol" and refit[-1].step == refit[-1].total
    assert all(e.loss is None for e in events if e.stage.startswith("evaluate"))  # not in the loss curve
    evaluation = result.metrics["evaluation"]
    assert set(evaluation) == {"warm", "cold"}
    assert set(evaluation["warm"]) == {"tuned", "popularity", "itemknn", "ease", "untuned-encoder", "sasrec"}
    assert evaluation["warm"]["popularity"]["users"] == 3  # u4 has only 2 interactions
