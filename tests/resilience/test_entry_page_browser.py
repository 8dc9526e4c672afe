"""The entry page in headless Chromium: a frame opens onto its source lines and variables,
library frames stay folded until "Show all frames"."""

import pytest
from django.test import Client

from tests import factories
from tests.browser.chromium import WIDTH, watch
from tests.resilience.test_entry_page_trace import sentry_entry


@pytest.fixture
def viewer_page(chromium, transactional_db, live_browser_server):
    """A page logged in as a viewer, and the problems it meets (console errors, failed
    requests: a script refused by the Content-Security-Policy shows there)."""
    client = Client()
    client.force_login(factories.operator("viewer", role="Viewer"))
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_browser_server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = watch(page)
    yield page, problems
    context.close()


def test_a_frame_shows_its_context_lines_and_variables(viewer_page, live_server):
    page, problems = viewer_page
    entry = sentry_entry()
    page.goto(f"{live_server.url}/admin/resilience/errorlogentry/{entry.pk}/change/")

    current = page.locator("#fl-trace tr.fl-current")
    assert current.is_visible()
    assert current.inner_text().split() == ["42", "raise", "ConnectionRefusedError(gateway)"]
    assert page.locator("#fl-trace table.fl-context tr").count() == 5
    variables = page.locator("#fl-trace table.fl-vars tbody tr")
    assert variables.nth(0).inner_text().split() == ["amount", "12.5"]  # by name
    assert variables.nth(1).inner_text().endswith("'<script>alert(1)</script>'")

    library = page.get_by_text("middleware", exact=False).first
    assert not library.is_visible()  # folded in "2 library frames"
    page.click("#fl-show-all-frames")
    assert library.is_visible()
    assert page.locator("#fl-show-all-frames").inner_text() == "Fold library frames"
    assert problems == []
