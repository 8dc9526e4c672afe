"""In headless Chromium: changing the dashboard's range or service keeps the cards' links
in step (static/dashboard/dashboard.js), with no console error."""

import pytest
from django.test import Client

from tests import factories
from tests.campaigns.fixtures import restore_migrated_data  # noqa: F401 - fixture


# live_server makes the test transactional: restore_migrated_data puts back the role
# groups its flush empties, for the tests after it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("restore_migrated_data")
def test_the_card_links_follow_the_selectors(chromium, live_browser_server):
    live_server = live_browser_server  # Chromium's fixtures: tests/browser/chromium.py
    service = factories.ServiceFactory(name="Billing")
    client = Client()
    client.force_login(factories.operator("viewer", role="Viewer"))
    context = chromium.new_context()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/admin/dashboard/?range=1h")
    page.wait_for_selector(".fl-dashboard[data-loaded]")

    def href(title: str) -> str:
        return page.get_attribute(f".fl-card h3 a:has-text('{title}')", "href")

    assert href("Total errors") == "/admin/resilience/errorlogentry/?range=1h"
    page.select_option("#fl-range", "7d")
    page.select_option("#fl-service", str(service.pk))
    scope = f"service__id__exact={service.pk}"
    assert href("Total errors") == f"/admin/resilience/errorlogentry/?range=7d&{scope}"
    assert href("Open groups") == f"/admin/resilience/errorgroup/?status__exact=OPEN&{scope}"
    page.select_option("#fl-service", "")
    assert href("Pending dead letters") == "/admin/resilience/deadletter/?status__exact=PENDING"
    assert problems == []
    context.close()
