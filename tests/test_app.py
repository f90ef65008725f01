"""Every page under AppTest, on a demo workspace bootstrapped with the real packaged encoder."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow
APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """RECTUNE_HOME with the demo workspace and one short training round (shared by this module)."""
    home = tmp_path_factory.mktemp("home")
    os.environ["RECTUNE_HOME"] = str(home)
    import pages.common as common
    common.HOME = home  # the module may already be imported by an earlier test
    from recsys.bootstrap import ensure_demo_workspace, shared_encoder
    from recsys.pipeline import run_round
    from recsys.training import TrainConfig
    ws = ensure_demo_workspace(home)
    run_round(ws, TrainConfig(max_seconds=8, epochs=2, min_steps=50), evaluate=True, encoder_factory=shared_encoder)
    return home


def app(page: str | None = None):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rows(at) -> list[str]:
    return [t.value for t in at.text]


def test_recommend_page_lists_top_k_with_scores_and_reasons(home):
    at = app()
    assert at.title[0].value == "Recommendations"
    assert len(at.get("feedback")) == 10
    assert any(c.value.startswith("because of: ") for c in at.caption)


def test_thumbs_down_hides_the_item_at_once_and_lands_in_the_ledger(home):
    from recsys.feedback import FeedbackLedger
    at = app()
    user = at.session_state["user"]
    first = at.get("feedback")[0].key
    _, _, item = first.split(":", 2)
    at.session_state[first] = 0  # thumbs down
    at.run()
    keys = [f.key for f in at.get("feedback")]
    assert first not in keys and len(keys) == 10
    ledger = FeedbackLedger(home / "demo" / "feedback.sqlite").frame()
    last = ledger.iloc[-1]
    assert (last.user_id, last.item_id, last.label, last.shown_rank) == (user, item, "down", 1)


def test_thumbs_up_reranks_at_once(home):
    at = app()
    before = [f.key for f in at.get("feedback")]
    at.session_state[before[-1]] = 1  # thumbs up on the 10th pick
    at.run()
    after = [f.key for f in at.get("feedback")]
    assert after != before and before[-1] in after
    assert any(t.value.startswith("up ") or t.value == "new" for t in at.text)


def test_label_queue_mode_serves_users_without_thumbs_first(home):
    at = app()
    at.segmented_control(key="rec_mode").set_value("Label queue").run()
    assert not at.exception
    from recsys.feedback import FeedbackLedger
    labelled = set(FeedbackLedger(home / "demo" / "feedback.sqlite").frame()["user_id"])
    assert at.session_state["user"] not in labelled


def test_train_page_starts_a_job_and_shows_it_finished(home):
    at = app("pages/train.py")
    at.number_input[0].set_value(10)  # time budget
    at.toggle[1].set_value(False)  # no evaluation: quicker
    at.button(key="start_training").click().run()
    from recsys.jobs import runner_for
    runner = runner_for(home / "demo")
    assert runner.wait(300).state == "done"
    at.run()
    assert any("Job" in s.value and "done" in s.value for s in at.subheader)
    assert "v0003" in at.dataframe[-1].value["version"].tolist()


def test_explore_page_draws_before_and_after_maps(home):
    at = app("pages/explore.py")
    charts = at.get("plotly_chart")
    assert len(charts) == 2 and not at.error


def test_evaluate_page_shows_rounds_and_baselines(home):
    at = app("pages/evaluate.py")
    models = set(at.dataframe[0].value["model"])
    assert {"v0002", "popularity", "itemknn", "ease", "untuned-encoder"} <= models
    assert len(at.get("plotly_chart")) == 1


def test_feedback_page_filters_and_counts(home):
    at = app("pages/feedback.py")
    total = len(at.dataframe[0].value)
    assert total >= 2
    at.multiselect(key="fb_label").set_value(["down"]).run()
    assert set(at.dataframe[0].value["label"]) == {"down"}


def test_data_page_imports_the_demo_and_reports(home):
    at = app("pages/data.py")
    at.radio(key="data_source").set_value("Bundled demo (synthetic bookshop)").run()
    at.button(key="import_demo").click().run()
    assert not at.error and at.success
    assert any("users: 700" in t for t in rows(at))


def test_catalog_text_is_shown_literally_not_as_markup(home, tmp_path):
    import pandas as pd

    from recsys.bootstrap import shared_encoder
    from recsys.pipeline import create_untuned_version, import_files
    from recsys.workspace import Workspace
    ws = Workspace(home / "evil")
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["<script>alert(1)</script>",
                                                                 "[x](javascript:alert(1))", "**bold**"]})
    log = pd.DataFrame({"user_id": ["u"] * 2, "item_id": ["c", "b"], "timestamp": [1, 2]})
    items.to_csv(tmp_path / "i.csv", index=False)
    log.to_csv(tmp_path / "l.csv", index=False)
    import_files(ws, tmp_path / "l.csv", tmp_path / "i.csv")
    create_untuned_version(ws, shared_encoder)
    at = app()
    at.session_state["workspace"] = "evil"
    at.run()
    assert "<script>alert(1)</script>" in rows(at)
    assert not any("<script>" in m.value for m in at.markdown)


def test_a_password_in_secrets_guards_every_page(home):
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["password"] = "s3cret"
    at.run()
    assert not at.title and at.text_input(key="password_input")
    at.text_input(key="password_input").set_value("wrong").run()
    assert at.error[0].value == "Wrong password." and not at.title
    at.text_input(key="password_input").set_value("s3cret").run()
    assert at.title[0].value == "Recommendations"
