"""Every page under AppTest, on a copy of a demo workspace bootstrapped once with the real packaged encoder:
each test gets its own copy, so the tests pass in any order."""
from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from recsys import comparison
from recsys.baselines import SASRec
from recsys.config import TrainConfig
from recsys.encoder import shared_encoder
from recsys.service import Service, open_demo
from tests.conftest import ROOT
from ui.common import literal

pytestmark = pytest.mark.slow
APP = str(ROOT / "app.py")
REC = "pages/recommend.py"
PAGES = ["pages/overview.py", "pages/recommend.py", "pages/compare.py", "pages/train.py", "pages/explore.py",
         "pages/evaluate.py", "pages/feedback.py", "pages/data.py"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A RECTUNE_HOME with the demo (untuned v0001) and one short evaluated round (v0002), made once. Its SASRec
    baseline row is a real SASRec capped at 2 epochs: the pages show the row, its value is not under test here
    (the full baseline took ~90 s of this setup; tests/test_baselines.py checks its configuration)."""
    home = tmp_path_factory.mktemp("template")
    service = open_demo(home, encoder_factory=shared_encoder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(comparison, "SASRec", lambda: SASRec(epochs=2))
        service.train(TrainConfig(max_seconds=8, epochs=2, min_examples=51_200, batch_size=1024), evaluate=True,
                      background=False)
    service.activate("v0002")  # whatever the gate decided: the pages below show a tuned round
    return home


@pytest.fixture
def home(template, tmp_path, monkeypatch):
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    import ui.common
    monkeypatch.setattr(ui.common, "HOME", copy)
    return copy


def app(page: str | None = None, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> list[str]:
    return [t.value for t in at.text]


def thumb(at, index: int) -> tuple[str, str, str]:
    """(widget key, user, item) of the index-th thumb on the page."""
    key = at.get("feedback")[index].key
    return (key, *at.session_state["thumb_keys"][key])


def ledger(home):
    return Service(home / "demo").ledger().frame()


def test_the_first_page_is_the_overview_in_plain_sentences(home):
    at = app()
    assert at.title[0].value == "Overview"
    assert at.subheader[0].value.startswith("v0002 finds the next item in the top 10 for ")
    assert "; untuned " in at.subheader[0].value and "best classic baseline " in at.subheader[0].value
    assert "1 training round(s) and 0 quick update(s) so far; 2 model versions in all." in texts(at)
    assert at.info[0].value.replace("\\", "").startswith("Next: Label more recommendations")


def test_recommend_page_lists_top_k_with_scores_and_reasons(home):
    at = app(REC)
    assert at.title[0].value == "Recommendations"
    assert len(at.get("feedback")) == 10
    assert sum(t.startswith("because of: ") for t in texts(at)) >= 5


def test_thumbs_down_hides_the_item_at_once_and_lands_in_the_ledger(home):
    at = app(REC)
    key, user, item = thumb(at, 0)
    at.session_state[key] = 0  # thumbs down
    at.run()
    keys = [f.key for f in at.get("feedback")]
    assert key not in keys and len(keys) == 10
    last = ledger(home).iloc[-1]
    assert (last.user_id, last.item_id, last.label, last.shown_rank, last.annotator) == (user, item, "down", 1, "")


def test_a_liked_item_leaves_the_list_and_the_rest_shifts(home):
    at = app(REC)
    before = [f.key for f in at.get("feedback")]
    key, user, item = thumb(at, 9)
    at.session_state[key] = 1  # thumbs up on the 10th pick
    at.run()
    after = [f.key for f in at.get("feedback")]
    assert key not in after and len(after) == 10 and after != before
    assert any(t == "new" for t in texts(at))  # an item that was not in the list before came in
    assert ledger(home)["label"].tolist() == ["up"]


def test_a_cleared_thumb_is_recorded_and_earlier_thumbs_show_as_selected(home):
    at = app(REC)
    key, user, item = thumb(at, 2)
    at.session_state[key] = 1
    at.run()
    at.session_state[key] = None  # the person takes the thumb back
    at.run()
    assert ledger(home)["label"].tolist() == ["up", "cleared"]
    key2, _, _ = thumb(at, 3)
    at.session_state[key2] = 0
    at.run()
    fresh = app(REC)  # a new session of the same workspace
    shown = {k: fresh.session_state[k] for k in fresh.session_state["thumb_keys"] if k in fresh.session_state}
    assert shown.get(key) is None and key2 not in [f.key for f in fresh.get("feedback")]  # the down stays hidden
    ups = app(REC)
    k3, _, _ = thumb(ups, 0)
    ups.session_state[k3] = 1
    ups.run()
    assert Service(home / "demo").ledger().current_labels()["label"].tolist().count("up") == 1


def test_apply_feedback_now_makes_a_quick_version_and_shows_how_the_thumb_moved(home):
    at = app(REC)
    key, user, item = thumb(at, 0)
    at.session_state[key] = 0  # thumbs down on the first pick
    at.run()
    at.button(key="apply_feedback").click().run()
    assert not at.exception
    service = Service(home / "demo")
    assert service.ws.active_name() == "v0003" and service.active_version().config["round"] == "quick"
    assert at.success[0].value.startswith("v0003 is active, made in ")
    moves = at.dataframe[0].value
    assert moves[["user", "thumb", "rank before"]].values.tolist() == [[user, "👎", 1]]
    assert moves["rank after"].iloc[0] > 10


def test_apply_feedback_now_on_the_train_page_makes_a_quick_version_and_evaluate_shows_its_shares(home):
    service = Service(home / "demo")
    user = service.recommender().users()[0]
    service.record_thumb(user, service.recommend(user, 10)[0].item_id, "down", "ann")
    at = app("pages/train.py")
    at.button(key="apply_feedback_train").click().run()
    assert not at.exception and service.ws.active_name() == "v0003"
    assert any(a.value.startswith("v0003 is active, made in ") for a in at.success)
    at.switch_page("pages/evaluate.py")
    at.run()
    shares = at.dataframe[-1].value.set_index("model")
    assert shares.loc["v0003 ✓ active", "downs kept out"] == "100%"  # a share, as a percentage
    assert shares.loc["v0002", "downs kept out"] == "–"


def label_mode(at, name: str = "ann"):
    at.segmented_control(key="rec_mode").set_value("Label").run()
    assert not at.get("feedback")  # the annotator is asked for first
    at.text_input(key="annotator_input").set_value(name).run()
    at.button(key="start_labelling").click().run()
    assert f"Labelling as {name}" in texts(at)
    return at


def test_the_label_queue_stays_on_a_user_until_next_user_and_counts_progress(home):
    at = label_mode(app(REC))
    first = at.session_state["queue_user"]
    for index in (0, 1):  # two thumbs: the queue would reorder if it were recomputed
        key, user, _ = thumb(at, index)
        at.session_state[key] = 0
        at.run()
        assert at.session_state["queue_user"] == first == user
    assert ledger(home)["annotator"].tolist() == ["ann", "ann"]
    assert any(t.startswith("User 1 of 50 in the queue · this session: 1 users labelled (2 thumbs), 0 skipped · "
                            "ann in all: 2 thumbs on 1 users") for t in texts(at))
    at.button(key="skip_user").click().run()
    second = at.session_state["queue_user"]
    assert second != first and any("User 2 of 50" in t and "1 skipped" in t for t in texts(at)), texts(at)
    at.button(key="next_user").click().run()
    assert at.session_state["queue_user"] not in (first, second)


def test_change_name_asks_for_the_annotator_again_and_thumbs_carry_the_new_name(home):
    at = label_mode(app(REC), "ann")
    at.button(key="change_annotator").click().run()
    assert at.text_input(key="annotator_input") is not None and not at.get("feedback")
    at.text_input(key="annotator_input").set_value("bea").run()
    at.button(key="start_labelling").click().run()
    key, _, _ = thumb(at, 0)
    at.session_state[key] = 1
    at.run()
    assert ledger(home)["annotator"].tolist() == ["bea"]


def test_a_colleagues_thumbs_show_on_the_rows_they_judged(home):
    at = label_mode(app(REC))
    user = at.session_state["queue_user"]
    key, _, item = thumb(at, 3)
    Service(home / "demo").record_thumb(user, item, "up", "bob")
    at.run()
    assert "colleagues: bob 👍" in texts(at)


def test_the_chosen_workspace_survives_page_switches(home):
    Service(home / "other")  # an empty second workspace
    at = app()
    at.sidebar.selectbox[0].set_value("other").run()
    at.switch_page("pages/train.py").run()
    assert at.session_state["workspace"] == "other" and at.sidebar.selectbox[0].value == "other"
    assert "Workspace: other" in texts(at)


def test_creating_a_workspace_selects_it(home):
    at = app()
    at.text_input(key="new_workspace_name").set_value("shop-2").run()
    at.button(key="create_workspace").click().run()
    assert not at.exception and at.session_state["workspace"] == "shop-2"
    assert (home / "shop-2" / "workspace.json").exists()


def test_a_workspace_is_renamed_and_deleted_from_the_sidebar_with_a_confirmation(home):
    Service(home / "other")
    at = app()
    at.sidebar.selectbox[0].set_value("other").run()
    at.text_input(key="rename_workspace_name").set_value("shop-3").run()
    at.button(key="rename_workspace").click().run()
    assert at.session_state["workspace"] == "shop-3" and (home / "shop-3").is_dir() and not (home / "other").exists()
    assert at.button(key="delete_workspace").disabled  # not before the box is ticked
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_workspace").click().run()
    assert not at.exception and not (home / "shop-3").exists() and at.session_state["workspace"] == "demo"


def test_reset_demo_forgets_its_rounds_and_thumbs(home):
    Service(home / "demo").record_thumb("U0001", "B00001", "up", "ann")
    at = app()
    at.checkbox(key="confirm_reset").check().run()
    at.button(key="reset_demo").click().run()
    service = Service(home / "demo")
    assert not at.exception and service.ledger().count() == 0 and [v.name for v in service.versions()] == ["v0001"]


def test_train_page_sends_the_backend_and_its_workers_into_the_settings(home):
    at = app("pages/train.py")
    assert at.number_input(key="ray_workers").disabled
    at.selectbox(key="backend").set_value("ray").run()
    at.number_input(key="ray_workers").set_value(3).run()
    settings = json.loads(at.code[0].value)
    assert not at.exception and (settings["backend"], settings["ray_workers"]) == ("ray", 3)
    assert not at.number_input(key="ray_workers").disabled


def test_train_page_sends_a_not_rated_value_and_refuses_one_that_is_no_number(home):
    at = app("pages/train.py")
    assert json.loads(at.code[0].value)["positives"] == {}  # blank: read from the data
    at.text_input(key="unrated").set_value("None").run()
    assert not at.exception and json.loads(at.code[0].value)["positives"] == {"unrated": None}
    at.text_input(key="unrated").set_value("-1").run()
    assert json.loads(at.code[0].value)["positives"] == {"unrated": -1.0}
    at.text_input(key="unrated").set_value("1").run()  # the demo's 1-5 stars without the 1s: 2-5
    assert json.loads(at.code[0].value)["positives"] == {"unrated": 1.0}
    assert at.number_input[-1].value == pytest.approx(2.9)  # the threshold the round will read: 2 + 0.3 * 3
    assert [t.value for t in at.text if t.value.startswith("Positives this round will use: ")] == [
        "Positives this round will use: ratings >= 2.9 are positives, lower ones count as thumbs-down; a rating of 1 "
        "means none was given (an implicit interaction): a positive; event weights cart 2, purchase 3, view 1"]
    at.text_input(key="unrated").set_value("zero").run()
    assert not at.exception and not at.code  # no settings to start a round with
    assert [e.value for e in at.error] == [literal("Rating that means 'not rated': 'zero' is not a number or 'none' "
                                                  "(e.g. 0).")]  # shown as text, markdown escaped
    assert at.button(key="start_training").disabled


def test_train_page_turns_the_neighbours_of_new_items_off_and_on(home):
    at = app("pages/train.py")
    assert json.loads(at.code[0].value)["new_item_neighbours"] == -1  # auto by default
    at.selectbox(key="new_item_neighbours").set_value("off").run()
    assert not at.exception and json.loads(at.code[0].value)["new_item_neighbours"] == 0


def test_train_page_starts_a_job_and_shows_the_round(home):
    at = app("pages/train.py")
    at.number_input(key="max_seconds").set_value(10)
    at.selectbox(key="model_kind").set_value("history")
    at.toggle(key="evaluate_round").set_value(False)  # no evaluation: quicker
    at.button(key="start_training").click().run()
    service = Service(home / "demo")
    assert service.runner.wait(300).state == "done"
    at.run()
    assert any("Job" in s.value and "done" in s.value for s in at.subheader)
    assert "v0003" in at.dataframe[-1].value["version"].tolist()
    assert "v0003 model kind: history model, as configured" in texts(at)
    placed = service.ws.version("v0003").metrics.extra["new_items"]["summary"]
    assert "new items placed by their text" in placed and f"v0003 new items: {placed}" in texts(at)
    assert any(t.startswith("v0003: a recency-weighted history model, trained for ") for t in texts(at))
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert [spec["title"] for spec in charts] == ["Training loss (lower is better)",
                                                            "Held-out users: NDCG@10 (higher is better)"]
    rounds = at.dataframe[-1].value
    assert rounds.loc[rounds["version"] == "v0003", "seconds"].iloc[0].replace(",", "").isdigit()
    assert "None" not in rounds.astype(str).to_numpy().ravel().tolist()
    assert service.ws.version("v0003").train_config().max_seconds == 10


def test_compare_page_puts_untuned_beside_the_active_round_and_ranks_the_next_choice(home):
    at = app("pages/compare.py")
    assert at.selectbox(key="compare_left").value == "v0001" and at.selectbox(key="compare_right").value == "v0002"
    left, right = (d.value for d in at.dataframe)
    assert len(left) == len(right) == 10 and set(left["change"]) <= {"kept", "dropped"}
    assert all(c == "new" or c == "same" or c.split()[0] in ("up", "down") for c in right["change"])
    at.toggle(key="compare_hide_last").set_value(True).run()
    sentence = at.subheader[0].value
    assert sentence.startswith("Their next choice, ") and ": v0002 ranks it " in sentence and ", v0001 " in sentence
    at.selectbox(key="compare_left").set_value("v0002").run()  # the same model on both sides: nothing moves
    assert set(at.dataframe[1].value["change"]) == {"same"}
    at.number_input(key="compare_k").set_value(5).run()
    assert [len(d.value) for d in at.dataframe] == [5, 5]
    at.switch_page(REC)
    at.run()
    assert at.number_input(key="recommend_k").value == 5  # one list length across pages


def test_explore_page_draws_one_map_switching_between_before_and_after(home):
    at = app("pages/explore.py")
    assert len(at.get("vega_lite_chart")) == 1 and not at.error
    assert at.selectbox(key="map_method").options == ["pca", "tsne"]  # umap-learn is not installed here
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    params = {p["name"]: p for p in spec["params"]}
    assert params["zoom"]["bind"] == "scales"  # drag to pan, scroll to zoom
    shown = params["Map"]
    assert shown["bind"]["options"] == ["before: untuned text embeddings", "after: v0002"]
    assert shown["value"] == "after: v0002"  # the 'after' map is drawn first, 'before' is a click away, no rerun
    assert all(layer["transform"] == [{"filter": "(datum.map === Map)"}] for layer in spec["layer"])
    x, y = spec["layer"][0]["encoding"]["x"]["scale"]["domain"], spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert spec["width"] == 760  # equal axes: one unit as many pixels across as up, on both maps
    assert spec["height"] == round(760 * (y[1] - y[0]) / (x[1] - x[0]))
    at.selectbox(key="map_before").set_value("nothing").run()
    assert [p["name"] for p in json.loads(at.get("vega_lite_chart")[0].proto.spec)["params"]] == ["zoom"]


def test_with_many_users_the_picker_searches_and_the_map_samples_keeping_the_users_items(home, monkeypatch):
    import recsys.maps
    import ui.common
    monkeypatch.setattr(ui.common, "PICKER_OPTIONS", 100)  # the demo's 700 users stand for 100,000
    monkeypatch.setattr(recsys.maps, "MAP_ITEMS", 300)
    at = app(REC)
    assert at.text_input(key="user_query").label == "Find a user among 700"
    picker = next(s for s in at.selectbox if s.label.startswith("User ("))
    assert picker.options == [f"U{i:04d}" for i in range(1, 51)]  # no query: the first 50, never all 700
    at.text_input(key="user_query").set_value("U012").run()
    picker = next(s for s in at.selectbox if s.label.startswith("User ("))
    assert picker.label == "User (10 matches shown)"
    assert picker.options == ["U0001"] + [f"U012{d}" for d in range(10)]  # typing alone does not switch the user
    assert picker.value == "U0001" and at.session_state["user"] == "U0001"
    picker.set_value("U0127").run()
    assert at.session_state["user"] == "U0127" and len(at.get("feedback")) == 10
    at.switch_page("pages/explore.py").run()
    assert not at.exception and at.session_state["user"] == "U0127"  # the choice follows the user across pages
    chart = at.get("vega_lite_chart")[0].proto
    name = json.loads(chart.spec)["layer"][1]["data"]["name"]  # the items layer
    data = next(pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.datasets if d.name == name)
    rec = Service(home / "demo").recommender()
    mine = {rec.item_ids[i] for i in rec.history("U0127")}
    after = set(data.loc[data["map"] == "after: v0002", "item_id"])
    assert len(after) == 300 and mine <= after
    assert set(data.loc[data["map"].str.startswith("before"), "item_id"]) == after
    assert "The map draws 300 of the catalog's 1,600 items" in " ".join(c.value for c in at.caption)


def test_evaluate_page_shows_rounds_and_baselines(home):
    at = app("pages/evaluate.py")
    models = set(at.dataframe[0].value["model"])
    assert {"v0002 ✓ active", "popularity", "itemknn", "ease", "untuned-encoder"} <= models
    shares = at.dataframe[-1].value
    assert set(shares["ups in top 10"]) == {"–"}  # no thumbs yet: no share, not a bare 0
    assert len(at.get("plotly_chart")) == 1
    at.segmented_control(key="eval_metric").set_value("hr").run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"] == "HR@10 across rounds"


def test_the_evaluate_button_runs_an_evaluation_job_of_the_active_model(home):
    """The active version is the template's short round, whose settings refit in seconds (the untuned version's
    are today's defaults: two full rounds of both kinds, ~2 minutes of the suite); its evaluation is cleared first."""
    service = Service(home / "demo")
    service.ws.store.update_metrics("v0002", evaluation={})
    assert service.active_version().name == "v0002" and not service.ws.version("v0002").metrics.evaluation
    at = app("pages/evaluate.py")
    at.button(key="evaluate_now").click().run()
    assert service.runner.wait(900).state == "done"
    evaluation = service.ws.version("v0002").metrics.evaluation
    assert set(evaluation) == {"warm", "cold"} and evaluation["warm"]["popularity"]["users"] == 700
    assert {"tuned", "ease", "sasrec"} <= set(evaluation["warm"]) and "tuned" in evaluation["cold"]


def test_feedback_page_filters_counts_and_shows_titles(home):
    service = Service(home / "demo")
    items = service.items()
    for item, label in ((items.index[0], "up"), (items.index[1], "down")):
        service.record_thumb("U0001", item, label, "ann")
    at = app("pages/feedback.py")
    frame = at.dataframe[0].value
    assert len(frame) == 2 and frame["title"].tolist() == items["title"].iloc[:2].tolist()
    at.multiselect(key="fb_label").set_value(["down"]).run()
    assert set(at.dataframe[0].value["label"]) == {"down"}


def test_data_page_imports_the_demo_and_reports(home):
    at = app("pages/data.py")
    at.radio(key="data_source").set_value("Bundled demo (synthetic bookshop)").run()
    at.button(key="import_demo").click().run()
    assert not at.error and at.success
    assert any("users: 700" in t for t in texts(at))


def test_catalog_text_is_shown_literally_not_as_markup(home, tmp_path):
    import pandas as pd

    from recsys.service import ImportRequest
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["<script>alert(1)</script>",
                                                                 "[x](javascript:alert(1))", "**bold**"]})
    log = pd.DataFrame({"user_id": ["u"] * 2, "item_id": ["c", "b"], "timestamp": [1, 2]})
    items.to_csv(tmp_path / "i.csv", index=False)
    log.to_csv(tmp_path / "l.csv", index=False)
    Service(home / "evil", shared_encoder).import_files(ImportRequest(tmp_path / "l.csv", tmp_path / "i.csv"))
    at = app(REC)
    at.sidebar.selectbox[0].set_value("evil").run()
    assert "<script>alert(1)</script>" in texts(at)
    assert not any("<script>" in m.value or "javascript" in m.value for m in at.markdown)


TITLES = {"pages/overview.py": "Overview", "pages/recommend.py": "Recommendations",
          "pages/compare.py": "Compare two models", "pages/train.py": "Train",
          "pages/explore.py": "Explore the embedding map", "pages/evaluate.py": "Evaluate",
          "pages/feedback.py": "Feedback ledger", "pages/data.py": "Data"}


def test_while_logged_out_the_router_offers_only_the_login(home):
    at = app(secrets={"password": "s3cret"})
    assert [t.value for t in at.title] == ["RecTune"] and at.text_input(key="password_input")
    with pytest.raises(ValueError, match="Known pages: \\['Log in'\\]"):
        at.switch_page("pages/train.py")


@pytest.mark.parametrize("page", PAGES)
def test_each_page_run_on_its_own_asks_for_the_password_first(home, page):
    """A fresh server serves a page URL straight from pages/ before the router has run: the page's own gate."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.secrets["password"] = "s3cret"
    at.run()
    assert [t.value for t in at.title] == ["RecTune"] and at.text_input(key="password_input")
    assert not at.dataframe and not at.get("feedback") and not at.button and not at.sidebar.selectbox
    at.text_input(key="password_input").set_value("wrong").run()
    assert at.error[0].value == "Wrong password." and [t.value for t in at.title] == ["RecTune"]
    at.text_input(key="password_input").set_value("s3cret").run()
    assert not at.exception and at.title[0].value == TITLES[page]


def test_train_page_sends_the_weight_averaging_horizon_into_the_settings(home):
    at = app("pages/train.py")
    assert json.loads(at.code[0].value)["average_epochs"] == 1.0
    at.number_input(key="average_epochs").set_value(0.0).run()
    assert not at.exception and json.loads(at.code[0].value)["average_epochs"] == 0.0


def test_train_page_sends_the_seen_items_mask_into_the_settings(home):
    at = app("pages/train.py")
    assert json.loads(at.code[0].value)["mask_seen"] is True
    at.toggle(key="mask_seen").set_value(False).run()
    assert not at.exception and json.loads(at.code[0].value)["mask_seen"] is False


def test_train_page_sends_the_text_loss_rows_into_the_settings(home):
    at = app("pages/train.py")
    assert json.loads(at.code[0].value)["text_loss_rows"] == 0
    at.number_input(key="text_loss_rows").set_value(-1).run()
    assert not at.exception and json.loads(at.code[0].value)["text_loss_rows"] == -1
    at.number_input(key="text_loss_rows").set_value(512).run()
    assert not at.exception and json.loads(at.code[0].value)["text_loss_rows"] == 512
