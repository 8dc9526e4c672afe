"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright.

Its fixtures (`chromium`, `live_browser_server`) reach every test through tests/conftest.py's
`pytest_plugins`. bench/screenshots.py launches Chromium the same way (`launch`).
"""

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The window the operators' guide promises the key columns fit in.
WIDTH = 1280


def missing(what: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required for the browser test")
    pytest.skip(f"{what} is not installed")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=90_000)


@pytest.fixture
def chromium() -> Iterator:
    if not shutil.which(CHROMIUM):
        missing(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (pip)")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def live_browser_server(live_server, monkeypatch):
    """pytest-django's live_server, made safe to drive from Playwright in this thread."""
    from django.db import connection

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made here
    # between its calls are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server's request threads must not keep persistent connections open past
    # the test (CONN_MAX_AGE), or the test database cannot be dropped afterwards.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    return live_server


def watch(page) -> list[str]:
    """What goes wrong on `page` from now on: console errors, script errors, answers >= 400.
    (Chromium asks for /favicon.ico, which Faultline does not serve: not counted.)"""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
            and not r.url.endswith("/favicon.ico") else None)
    return problems
