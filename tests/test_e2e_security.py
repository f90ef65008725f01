"""In a real browser: the password holds for every page URL on a fresh server, and data never renders as
markup (hostile titles, categories and ids stay text; nothing is fetched; CSV downloads are neutralised)."""
from __future__ import annotations

import pandas as pd
import pytest

from recsys.encoder import shared_encoder
from recsys.service import ImportRequest, Service
from tests.browser_support import app_server, chromium, need_browser, settle

pytestmark = [pytest.mark.slow, pytest.mark.browser]
PASSWORD = "s3cret-pw"
PAGE_PATHS = ["", "overview", "recommend", "compare", "train", "explore", "evaluate", "feedback", "data", "common", "app"]
HOSTILE = {
    "img": '<img src="http://127.0.0.1:9/pixel.png" onerror="window.__pwned=1">',
    "md": "![x](http://127.0.0.1:9/md.png) [click](http://127.0.0.1:9/link)",
    "formula": '=HYPERLINK("http://127.0.0.1:9/f","open")',
    "bold": "<b>bold</b> <script>window.__pwned=2</script>",
}


def secrets_args(tmp_path) -> tuple[str, ...]:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'password = "{PASSWORD}"\n')
    return ("--secrets.files", str(secrets))


def login(page) -> None:
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    settle(page)


def test_every_page_url_opened_first_on_a_fresh_server_asks_for_the_password(tmp_path):
    need_browser()
    with chromium() as browser:
        for path in PAGE_PATHS:
            home = tmp_path / f"home-{path or 'root'}"
            home.mkdir()
            with app_server(home, secrets_args(tmp_path), {"RECTUNE_DEMO": "0"}) as url:
                page = browser.new_context().new_page()
                page.goto(f"{url}/{path}")
                page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
                settle(page)
                text = page.inner_text("body")
                for leaked in ("Start training", "Workspace", "Upload files", "Thumbs recorded", "Explore the"):
                    assert leaked not in text, (path, leaked)
                links = page.locator("[data-testid='stSidebarNav'] a, [data-testid='stPageLink'] a").count()
                assert links == 0, path
                page.context.close()


def hostile_workspace(home) -> None:
    """A catalog whose titles, categories and ids are markup, and users whose ids contain ':' and spaces."""
    names = list(HOSTILE.values())
    items = pd.DataFrame({"item_id": [f"id:{i} <i>x</i>" for i in range(12)],
                          "title": [f"{names[i % 4]} {i}" for i in range(12)],
                          "category": ['<a href="http://127.0.0.1:9/cat">cat</a>' if i % 2 else "<b>B</b>"
                                       for i in range(12)]})
    rows = [(f"customer:{u} a", f"id:{(u + t) % 12} <i>x</i>", 1_700_000_000 + t) for u in range(8) for t in range(5)]
    folder = home.parent / "files"
    folder.mkdir()
    items.to_csv(folder / "items.csv", index=False)
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(folder / "log.csv", index=False)
    Service(home / "hostile", shared_encoder).import_files(ImportRequest(folder / "log.csv", folder / "items.csv"))


def test_hostile_titles_categories_and_ids_render_as_text_on_every_page(tmp_path):
    need_browser()
    home = tmp_path / "home"
    home.mkdir()
    hostile_workspace(home)
    with app_server(home, secrets_args(tmp_path), {"RECTUNE_DEMO": "0"}) as url, chromium() as browser:
        page = browser.new_context(accept_downloads=True).new_page()
        fetched = []
        page.on("request", lambda r: fetched.append(r.url) if ":9/" in r.url else None)
        page.goto(url)
        login(page)
        page.get_by_role("heading", name="Overview").wait_for(timeout=120_000)
        settle(page)
        assert_no_markup(page)
        page.locator("[data-testid='stSidebar']").get_by_role("link", name="Recommend").click()
        page.get_by_role("heading", name="Recommendations").wait_for()
        settle(page)
        body = page.inner_text("body")
        assert HOSTILE["img"] in body and "![x](http://127.0.0.1:9/md.png)" in body  # shown literally
        page.locator("[data-testid='stFeedback']").first.locator("[data-testid='stFeedbackButton']").nth(1).click()
        settle(page)
        for name in ("Compare", "Explore", "Evaluate", "Feedback", "Train", "Data"):
            page.locator("[data-testid='stSidebar']").get_by_role("link", name=name).click()
            settle(page)
            page.wait_for_timeout(500)
            if name == "Explore":
                assert_map_tooltip_is_text(page)
            assert_no_markup(page)
        ledger = Service(home / "hostile").ledger().frame()
        assert ledger["user_id"].iloc[0].startswith("customer:") and ledger["item_id"].iloc[0].startswith("id:")
        assert ledger["label"].tolist() == ["down"]
        page.locator("[data-testid='stSidebar']").get_by_role("link", name="Feedback").click()
        settle(page)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        csv = pd.read_csv(download.value.path(), dtype=str)
        assert all(not str(v).startswith(("=", "+", "-", "@")) for v in csv.to_numpy().ravel() if isinstance(v, str))
    assert fetched == [], fetched


def assert_map_tooltip_is_text(page) -> None:
    """The map's legend shows the category markup as text, and so does an item's tooltip."""
    chart = page.locator("[data-testid='stVegaLiteChart'] svg.marks").first
    chart.wait_for()
    assert "<b>B</b>" in chart.locator("text").all_text_contents()
    chart.locator(".items_marks path").first.hover(force=True)  # the items layer (users lie under it)
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for()
    text = tooltip.inner_text()
    assert any(value in text for value in HOSTILE.values()), text  # shown literally
    assert tooltip.locator("img, b, a, script").count() == 0


def assert_no_markup(page) -> None:
    assert page.evaluate("() => window.__pwned === undefined")
    for selector in ("img[src*=':9/']", "a[href*=':9/']", "b", "script:not([src])[data-x]"):
        inside = page.locator(f"[data-testid='stMain'] {selector}").count()
        assert inside == 0, selector
