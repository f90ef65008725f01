"""The dashboard's speed for `python -m recsys bench`, measured in a real browser on the demo data: each page's
render time calm and while a round trains, how long a thumbs-down takes to update its list, a round started in
the app against the same round from the CLI, and the quick feedback round. Needs playwright and a Chromium (the
test extras); the rows say 'skipped' otherwise. The app runs as its own `streamlit run` process."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from recsys.service import ROOT, Service, open_demo

PAGES = {"Overview": "Overview", "Recommend": "Recommendations", "Compare": "Compare two models", "Train": "Train",
         "Explore": "Explore the embedding map", "Evaluate": "Evaluate", "Feedback": "Feedback ledger", "Data": "Data"}
CHROMIUM = os.environ.get("RECTUNE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
MAIN_TEXT = "() => document.querySelector(\"[data-testid='stMain']\").innerText"
BUSY_PAUSE_S = 2  # between visits while a round trains: a person reads a page; back to back visits cost 5x speed
ROUND_PAIRS = 2  # app round, CLI round, twice: one pair of a ~140 s round varies by up to ~8% on a shared box


def bench_pages(rows: list) -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        rows.append(("dashboard", "page timings in a browser", "skipped: playwright is not installed"))
        return
    if shutil.which(CHROMIUM) is None:
        rows.append(("dashboard", "page timings in a browser", f"skipped: no Chromium at {CHROMIUM}"))
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        service = open_demo(home)
        quick_round_rows(service, rows)
        with app_server(home) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            page.goto(url)
            page.wait_for_selector(IDLE)
            _page_rows(page, service, rows)
            app_seconds, cli_seconds = [], []
            for _ in range(ROUND_PAIRS):  # alternated: the machine's own drift hits both sides alike
                app_seconds.append(_app_round(page, service))
                page.goto("about:blank")  # the browser idle while the CLI trains (a Train page would follow it)
                cli_seconds.append(_cli_round(service))
                page.goto(url)
                page.wait_for_selector(IDLE)
    app, cli = float(np.mean(app_seconds)), float(np.mean(cli_seconds))
    rows.append(("dashboard", f"demo round started in the app, watched on the Train page, vs the CLI (s, mean of "
                              f"{ROUND_PAIRS} alternated pairs)",
                 f"{app:.1f} vs {cli:.1f} ({app / cli - 1:+.0%}; app {_join(app_seconds)}, CLI {_join(cli_seconds)})"))


def large_page_rows(home: Path, rows: list, visits: int = 3) -> None:
    """Every page's render time (median of `visits` sidebar visits) on the one workspace in `home`."""
    with app_server(home, env={"RECTUNE_DEMO": "0"}) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.wait_for_selector(IDLE)
        first = {}
        for name in PAGES:  # the first visit of each page fills the caches (a map projected, a version loaded)
            first[name] = _timed_or_error(lambda n=name: _visits(page, n, 1)[0])
        for name in PAGES:
            after = _timed_or_error(lambda n=name: float(np.median(_visits(page, n, visits))))
            rows.append(("large set", f"{name} page render, first visit / after (median s)",
                         " / ".join(f"{v:.2f}" if isinstance(v, float) else v for v in (first[name], after))))
            print(rows[-1], file=sys.stderr, flush=True)


def _timed_or_error(measure) -> float | str:
    """The seconds `measure` returns, or what the page showed instead of its content (PageError)."""
    try:
        return measure()
    except PageError as exc:
        return f"ERROR: {exc}"


def _join(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def quick_round_rows(service: Service, rows: list, thumbs: int = 10) -> None:
    """Thumbs on ten users' lists (a down on the first pick, an up on the sixth), then 'Apply feedback now'."""
    for user in service.recommender().users()[:thumbs // 2]:
        picks = service.recommend(user, 10)
        service.record_thumb(user, picks[0].item_id, "down", "bench")
        service.record_thumb(user, picks[5].item_id, "up", "bench")
    t = time.perf_counter()
    status = service.quick_round(background=False)
    seconds = time.perf_counter() - t
    summary = service.ws.version(status.version).metrics.extra["quick"]["summary"]
    rows.append(("feedback", f"quick feedback round on the demo data, {thumbs} thumbs (s)", f"{seconds:.2f}"))
    rows.append(("feedback", "quick round report", summary))


def _page_rows(page, service: Service, rows: list) -> None:
    calm = {name: _visits(page, name, 3) for name in PAGES}
    thumb = _thumb_seconds(page, 5)
    _start_round(page, service)
    busy = {name: [] for name in PAGES}
    while service.job().active:
        for name in PAGES:
            busy[name] += _visits(page, name, 1)
            page.wait_for_timeout(1000 * BUSY_PAUSE_S)
    page.wait_for_timeout(500)
    for name in PAGES:
        rows.append(("dashboard", f"{name} page render, calm / while a round trains (median s)",
                     f"{np.median(calm[name]):.2f} / {np.median(busy[name]) if busy[name] else float('nan'):.2f}"))
    rows.append(("dashboard", "thumbs-down -> list updated (median of 5, s)", f"{np.median(thumb):.2f}"))


def _visits(page, name: str, times: int) -> list[float]:
    """Seconds from a sidebar click to the page's script run being over (its title shown first)."""
    out = []
    for _ in range(times):
        _open(page, "Data" if name == "Overview" else "Overview")  # leave the page, so the click is a real visit
        t = time.perf_counter()
        _open(page, name)
        out.append(time.perf_counter() - t)
    return out


class PageError(RuntimeError):
    """A page drew an exception or an error box instead of its content: its render time would mean nothing."""


def _open(page, name: str) -> None:
    page.locator("[data-testid='stSidebar']").get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=PAGES[name], exact=True).wait_for()
    page.wait_for_selector(IDLE)
    failed = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    if failed.count():
        raise PageError(f"the {name} page shows an error: {failed.first.inner_text()[:300]!r}")


def _thumb_seconds(page, times: int) -> list[float]:
    _open(page, "Recommend")
    out = []
    for _ in range(times):
        before = page.evaluate(MAIN_TEXT)
        t = time.perf_counter()
        page.locator("[data-testid='stFeedback']").first.locator("[data-testid='stFeedbackButton']").nth(1).click()
        page.wait_for_function(f"b => ({MAIN_TEXT})() !== b && document.querySelector(\"{IDLE}\") !== null",
                               arg=before)
        out.append(time.perf_counter() - t)
    return out


def _start_round(page, service: Service) -> None:
    """The Train page's defaults, without the evaluation (the CLI round it is compared with has none); returns
    once the server has started the job."""
    _open(page, "Train")
    if page.get_by_role("switch", name="Evaluate the round").is_checked():
        page.get_by_text("Evaluate the round", exact=True).click()
        page.wait_for_selector(IDLE)
    before = service.job().job_id
    page.get_by_role("button", name="Start training").click()
    while service.job().job_id == before:
        time.sleep(0.2)


def _app_round(page, service: Service) -> float:
    """A second round from the app, watched on the Train page as a person would; its own wall time."""
    _start_round(page, service)
    while service.job().active:
        time.sleep(1)
    return float(service.ws.version(service.job().version).metrics.seconds)


def _cli_round(service: Service) -> float:
    subprocess.run([sys.executable, "-m", "recsys", "train", "--workspace", str(service.ws.root)], cwd=ROOT,
                   check=True, capture_output=True)
    return float(service.ws.version(service.versions()[-1].name).metrics.seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(home: Path, extra_args: tuple[str, ...] = (), env: dict | None = None):
    """`streamlit run app.py` with RECTUNE_HOME=home; yields the base URL. Output goes to home/server.log
    (a file, not a pipe: an unread pipe fills up and blocks the server)."""
    port = free_port()
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), *extra_args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RECTUNE_HOME": str(home), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@contextmanager
def chromium():
    """Headless Chromium through playwright (the test extras)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the app at {url} did not start")
