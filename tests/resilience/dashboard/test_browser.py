"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Set DASHBOARD_SCREENSHOT=docs/dashboard.png to refresh the screenshot in the docs.
"""

import os
import shutil

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.resilience.dashboard.conftest import generate_realistic

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(what: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required for the browser test")
    pytest.skip(f"{what} is not installed")


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        _missing(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=90_000)
        yield browser
        browser.close()


@pytest.fixture
def viewer_session(transactional_db, live_server, monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the ORM calls made here
    # between its calls are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server's request threads must not keep persistent connections open past
    # the test (CONN_MAX_AGE), or the test database cannot be dropped afterwards.
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    data = generate_realistic(timezone.now())
    factories.DeadLetterFactory(status="PENDING")
    user = factories.operator("viewer", role="Viewer")
    client = Client()
    client.force_login(user)
    return data, client.cookies["sessionid"].value


def test_a_viewer_sees_every_chart_and_number_with_no_console_error(browser, live_server,
                                                                    viewer_session):
    from resilience.models import DeadLetter

    data, session = viewer_session
    pending_dead_letters = DeadLetter.objects.filter(status="PENDING").count()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: CI machines are shared
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
            else None)

    page.goto(f"{live_server.url}/admin/dashboard/?range=7d")
    page.wait_for_selector(".fl-dashboard[data-loaded]")
    charts = page.evaluate("""() => ['trend', 'category', 'severity'].map((name) => {
        const canvas = document.getElementById('fl-chart-' + name);
        const chart = Chart.getChart(canvas);
        return {name, width: canvas.clientWidth, height: canvas.clientHeight,
                points: chart ? chart.data.datasets[0].data.length : 0,
                sum: chart ? chart.data.datasets[0].data.reduce((a, b) => a + b, 0) : 0};
    })""")
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["points"] > 0 and chart["sum"] == len(data.entries), chart
    figures = page.eval_on_selector_all(
        "[data-figure]", "els => Object.fromEntries(els.map(e => [e.dataset.figure, "
        "e.textContent.trim()]))")
    assert figures["total"].replace(",", "") == str(len(data.entries))
    assert all(figures.values()), figures
    assert figures["pending_dead_letters"].replace(",", "") == str(pending_dead_letters)
    assert page.locator("#fl-table-groups a").count() == 10

    if path := os.environ.get("DASHBOARD_SCREENSHOT"):
        page.screenshot(path=path, full_page=True)

    # The range selector refreshes from the API with the session.
    with page.expect_response(lambda r: "/api/v1/metrics/" in r.url) as answer:
        page.select_option("#fl-range", "1h")
    assert answer.value.status == 200
    page.wait_for_function("document.querySelector('[data-figure=total]').textContent !== "
                           f"'{figures['total']}'")
    assert page.url.endswith("?range=1h")
    page.click("#fl-pause")
    assert page.get_attribute("#fl-pause", "aria-pressed") == "true"

    # A narrow window: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 380, "height": 800})
    page.wait_for_timeout(200)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the window"
    assert page.evaluate("document.getElementById('fl-chart-category').clientWidth") < 380

    assert problems == []

    # A viewer reaches no change page (403 for models it cannot view).
    assert page.goto(f"{live_server.url}/admin/auth/user/").status == 403
    context.close()
