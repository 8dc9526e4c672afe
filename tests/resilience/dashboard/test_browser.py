"""The dashboard in headless Chromium (tests/browser/chromium.py). Its screenshot in the
docs is made by bench/screenshots.py (`make screenshots`), not here."""

import pytest
from django.test import Client
from django.utils import timezone

from tests import factories
from tests.browser.chromium import WIDTH, watch
from tests.resilience.dashboard.conftest import generate_realistic


@pytest.fixture
def viewer_session(transactional_db, live_browser_server):
    data = generate_realistic(timezone.now())
    factories.DeadLetterFactory(status="PENDING")
    user = factories.operator("viewer", role="Viewer")
    client = Client()
    client.force_login(user)
    return data, client.cookies["sessionid"].value


def test_a_viewer_sees_every_chart_and_number_with_no_console_error(chromium, live_server,
                                                                    viewer_session):
    from resilience.models import DeadLetter

    data, session = viewer_session
    pending_dead_letters = DeadLetter.objects.filter(status="PENDING").count()
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: CI machines are shared
    problems = watch(page)

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

    # The range selector refreshes from the API with the session.
    with page.expect_response(lambda r: "/api/v1/metrics/" in r.url) as answer:
        page.select_option("#fl-range", "1h")
    assert answer.value.status == 200
    # A function, not an expression: Playwright evaluates an expression's text with eval in
    # the page, which the dashboard's CSP (script-src 'self') refuses in current Chromium.
    page.wait_for_function(
        "(before) => document.querySelector('[data-figure=total]').textContent !== before",
        arg=figures["total"])
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
