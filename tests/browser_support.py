"""Shared by the browser tests: start the app on a free port (a real `streamlit run`), open headless Chromium."""
from __future__ import annotations

import os

import pytest

from recsys.bench_pages import CHROMIUM, app_server, chromium, free_port  # one definition, shared with the bench

__all__ = ["app_server", "chromium", "free_port", "need_browser", "settle"]


def need_browser() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")


def settle(page) -> None:
    """Wait until the app's script run is over: a click during a run (or a page switch) can be lost."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
