"""End to end in headless Chromium: start the app, import a small upload, train, thumbs-down, apply it in a quick
round, compare two versions, train again."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys.feedback import FeedbackLedger
from tests.browser_support import app_server, chromium, need_browser, settle

pytestmark = [pytest.mark.slow, pytest.mark.browser]
TITLES = "Array.from(document.querySelectorAll(\"[data-testid='stText']\")).map(e => e.innerText)" \
         ".filter(x => x.includes('tool number') && !x.startsWith('because of'))"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_browser()
    home = tmp_path_factory.mktemp("home")
    with app_server(home) as url:
        yield url, home


@pytest.fixture(scope="module")
def page(server):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(240_000)
        yield page


def small_upload(folder) -> tuple[str, str]:
    titles = {f"k{i}": f"{'Garden' if i % 2 else 'Kitchen'} tool number {i}" for i in range(24)}
    items = pd.DataFrame({"item_id": list(titles), "title": list(titles.values()),
                          "category": ["garden" if i % 2 else "kitchen" for i in range(24)]})
    rows = [(f"c{u}", f"k{(u + 2 * t) % 24}", 1_700_000_000 + 3600 * t) for u in range(20) for t in range(6)]
    log = pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp"])
    items_path, log_path = folder / "catalog.csv", folder / "orders.csv"
    items.to_csv(items_path, index=False)
    log.to_csv(log_path, index=False)
    return str(log_path), str(items_path)


def go(page, url: str, label: str) -> None:
    page.goto(url)
    settle(page)
    page.locator("[data-testid='stSidebar']").get_by_role("link", name=label).click()
    page.get_by_role("heading", name=label if label != "Recommend" else "Recommendations").wait_for()
    settle(page)


def train_round(page, url: str, home, version: str) -> None:
    go(page, url, "Train")
    page.get_by_role("button", name="Start training").click()
    wait_js(page, home, "v => { const t = document.body.innerText; return t.includes('finished: ' + v)"
                        " || /: (failed|cancelled|interrupted)/.test(t); }", version)  # on a failure, say why
    assert f"finished: {version}" in page.inner_text("body"), diagnostics(page, home)


def wait_js(page, home, js: str, arg=None) -> None:
    try:
        page.wait_for_function(js, arg=arg)
    except Exception as exc:
        raise AssertionError(f"{exc}\n{diagnostics(page, home)}") from None


def diagnostics(page, home) -> str:
    job = home / "demo" / "job.json"
    log = (home / "server.log").read_text(errors="replace")[-4000:]
    return (f"page:\n{page.inner_text('body')[-3000:]}\njob.json: {job.read_text() if job.exists() else None}"
            f"\nserver log tail:\n{log}")


def test_upload_train_thumbs_down_and_train_again(server, page, tmp_path):
    url, home = server
    page.goto(url)
    page.get_by_role("heading", name="Overview").wait_for()
    go(page, url, "Data")
    log_path, items_path = small_upload(tmp_path)
    for n, path in enumerate((log_path, items_path)):  # one at a time: a file set during the first's rerun was lost
        page.locator("input[type=file]").nth(n).set_input_files(path)
        page.locator("[data-testid='stFileUploader']").nth(n).get_by_text(Path(path).name).wait_for()
        settle(page)
    page.get_by_text("Item text preview", exact=False).first.wait_for()
    settle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported.").wait_for()

    train_round(page, url, home, "v0003")  # v0001: demo (untuned), v0002: the upload (untuned)
    go(page, url, "Train")
    assert "v0003" in page.inner_text("body")  # the rounds table shows the new round (active or kept)
    go(page, url, "Recommend")
    thumbs = page.locator("[data-testid='stFeedback']")
    thumbs.first.wait_for()
    settle(page)
    wait_js(page, home, f"() => {TITLES}.length === 10")
    first_title = page.evaluate(f"() => {TITLES}[0]")
    thumbs.first.locator("[data-testid='stFeedbackButton']").nth(1).click()  # thumbs down on pick 1
    wait_js(page, home, f"t => {{ const xs = {TITLES}; return xs.length === 10 && !xs.includes(t); }}", first_title)
    frame = FeedbackLedger(home / "demo" / "feedback.sqlite").frame()
    assert frame["label"].tolist() == ["down"] and frame["shown_rank"].tolist() == [1]

    page.get_by_role("button", name="Apply feedback now").click()  # a quick round: v0004 from the thumb
    page.get_by_text("v0004 is active, made in", exact=False).wait_for()
    page.get_by_text("Top 10 from model v0004", exact=True).wait_for()  # the list follows (it sits in a fragment)
    quick = json.loads((home / "demo" / "models" / "v0004" / "metrics.json").read_text())["quick"]
    assert [(m["label"], m["rank_before"]) for m in quick["moves"]] == [("down", 1)]

    go(page, url, "Compare")  # the upload's untuned version beside the quick update
    page.locator("[data-testid='stDataFrame']").nth(1).wait_for()
    body = page.inner_text("body")
    assert "v0002 · untuned" in body and "v0004 · quick update of v0003 · active" in body
    page.get_by_text("Hide their last interaction", exact=False).click()
    page.get_by_text("Their next choice, ", exact=False).wait_for()
    assert ": v0004 ranks it " in page.inner_text("body")

    go(page, url, "Explore")  # before / after switch inside the chart: the same item moves, no rerun
    item = page.locator("[data-testid='stVegaLiteChart'] .items_marks path").first
    item.wait_for()
    after = item.get_attribute("transform")
    page.get_by_label("before: untuned text embeddings").check()
    wait_js(page, home, "t => document.querySelector(\"[data-testid='stVegaLiteChart'] .items_marks path\")"
                        ".getAttribute('transform') !== t", after)

    train_round(page, url, home, "v0005")
    versions = sorted(p.name for p in (home / "demo" / "models").iterdir())
    assert versions == ["v0001", "v0002", "v0003", "v0004", "v0005"]
    metrics = json.loads((home / "demo" / "models" / "v0005" / "metrics.json").read_text())
    assert metrics["feedback_seen"] == 1 and metrics["feedback_report"]["downs"] == 1
