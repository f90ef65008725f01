"""The front door with the fake encoder: what the app's buttons and the CLI's commands call."""
from __future__ import annotations

import threading

import pytest

from recsys.config import TrainConfig
from recsys.errors import JobError, RecTuneError
from recsys.positives import PositiveRule
from recsys.service import ImportRequest, train_config


def test_an_import_makes_the_data_and_an_untuned_model(tiny_service):
    status = tiny_service.status().to_dict()
    assert status["data"]["interactions"] == 11 and status["active"] == "v0001"
    assert [(m["version"], m["kind"]) for m in status["models"]] == [("v0001", "untuned")]
    assert status["job"]["state"] == "done" and status["job"]["settings"] == {"operation": "import"}


def test_an_import_is_refused_while_a_round_runs_and_nothing_changes(tiny_service, tiny_files):
    release, started = threading.Event(), threading.Event()
    tiny_service.runner.start(lambda ev, cancel: started.set() or release.wait(30) and "v9", {})
    started.wait(10)
    before = tiny_service.ws.data_dir
    try:
        with pytest.raises(JobError, match="already running"):
            tiny_service.import_files(ImportRequest(*tiny_files))
    finally:
        release.set()
        tiny_service.runner.wait(30)
    assert tiny_service.ws.data_dir == before and [v.name for v in tiny_service.versions()] == ["v0001"]


def test_thumbs_act_on_the_list_at_once(tiny_service):
    first = tiny_service.recommend("u1", 3)[0].item_id
    tiny_service.record_thumb("u1", first, "down", "ann", rank=1, score=0.5)
    assert first not in [r.item_id for r in tiny_service.recommend("u1", 3)]
    row = tiny_service.ledger().frame().iloc[0]
    assert (row.label, row.model_version, row.annotator, row.shown_rank) == ("down", "v0001", "ann", 1)
    with pytest.raises(RecTuneError, match="label must be"):
        tiny_service.record_thumb("u1", first, "meh")


def test_a_background_round_reports_progress_while_it_runs(tiny_service):
    seen_running = []
    tiny_service.train(TrainConfig(dim=8, max_history=5, epochs=3, batch_size=8, min_examples=1), evaluate=False,
                  callbacks=[lambda event: seen_running.append(tiny_service.job().state)])
    assert tiny_service.runner.wait(60).state == "done"
    assert seen_running and set(seen_running) == {"running"}  # read from inside the job, not after it


def test_training_settings_from_users_name_what_is_wrong():
    assert train_config({"dim": 16}).dim == 16
    with pytest.raises(RecTuneError, match="unknown training setting.*: colour"):
        train_config({"colour": "red"})
    with pytest.raises(RecTuneError, match="invalid training setting: dim"):
        train_config({"dim": 1})


def test_the_catalog_is_read_once_per_data_set_and_a_new_import_gets_its_own(tiny_service, tiny_files):
    first = tiny_service.items()
    assert tiny_service.items() is first and first.index.name == "item_id" and "text" in first
    tiny_service.import_files(ImportRequest(*tiny_files))
    assert tiny_service.items() is not first and tiny_service.items().equals(first)  # the same files again


def test_warming_up_loads_the_catalog_and_the_active_model_that_readers_then_share(tiny_service, tmp_path):
    from recsys.service import Service
    fresh = Service(tiny_service.ws.root, tiny_service.encoder_factory, create=False)
    fresh.warm_up()
    assert list(fresh._recommenders) == [("v0001", fresh.ws.data_dir.name)] and list(fresh._items) == [
        fresh.ws.data_dir.name]
    assert fresh.recommender() is fresh._recommenders[("v0001", fresh.ws.data_dir.name)]
    empty = Service(tmp_path / "empty")
    empty.warm_up()  # no data, no model: nothing to load, no error
    assert empty._recommenders == {} and empty._items == {}


def test_the_positives_rule_read_from_the_data_follows_a_new_import(tiny_service, tiny_files, tmp_path, monkeypatch):
    import pandas as pd
    reads = []
    load = tiny_service.ws.interaction_columns
    monkeypatch.setattr(tiny_service.ws, "interaction_columns", lambda names: reads.append(names) or load(names))
    assert tiny_service.positives_rule().min_rating is None  # no rating column
    rule = tiny_service.positives_rule()
    rule.event_weights["view"] = 9.0  # a caller's change does not reach the kept rule
    assert tiny_service.positives_rule().event_weights == {}
    assert reads == [("rating", "event")]  # the log read once per data, and only the columns the rule reads
    log, items = tiny_files
    rated = tmp_path / "rated.csv"
    pd.read_csv(log).assign(rating=[1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 5]).to_csv(rated, index=False)
    tiny_service.import_files(ImportRequest(rated, items))
    assert tiny_service.positives_rule().min_rating == pytest.approx(1 + 0.3 * 4)  # the lowest 30% of 1-5
    assert tiny_service.positives_rule({"min_rating": 4.0}).min_rating == 4.0
    assert reads == [("rating", "event")] * 2  # once more for the new data, whatever the fields given
    read_books = tmp_path / "read.csv"  # Book-Crossing's shape: 0 = read, not rated; 1-10 explicit
    pd.read_csv(log).assign(rating=[0, 0, 0, 0, 0, 1, 4, 7, 8, 9, 10]).to_csv(read_books, index=False)
    tiny_service.import_files(ImportRequest(read_books, items))
    assert tiny_service.positives_rule().describe().startswith("ratings >= 3.7 are positives")  # 0 set aside
    assert tiny_service.positives_rule({"unrated": None}) == PositiveRule(pytest.approx(3.0), {}, None)  # 0-10
