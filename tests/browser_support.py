"""Shared by the browser tests: start the app on a free port (a real `streamlit run`), open headless Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run"]


def need_browser() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")


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
                             "--server.port", str(port), *extra_args], cwd=ROOT,
                            env={**os.environ, "RECTUNE_HOME": str(home), **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def _wait_healthy(url: str, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the app at {url} did not start")


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def settle(page) -> None:
    """Wait until the app's script run is over: a click during a run (or a page switch) can be lost."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
