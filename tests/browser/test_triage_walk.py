"""The triage path in Chromium, 1,280 px wide, as an operator walks it (issue 14): a superuser
makes a Triager on the user page, who logs in, opens the group list (unresolved by default),
opens a group, presses Resolve on its page and sees the group leave the default list (it is
still under "All")."""

import pytest

from resilience.models import ErrorGroup
from tests.browser.chromium import WIDTH, watch
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

PASSWORD = "a-long-triager-password-7"
LIST = "/admin/resilience/errorgroup/"


@pytest.fixture
def groups(transactional_db):
    """Three open groups, each with an event; the first is the one resolved."""
    from django.contrib.auth.models import User

    User.objects.create_superuser("root", password=PASSWORD)
    made = [ErrorGroupFactory(title=f"ConnectionError: upstream {name} refused")
            for name in ("payments", "ledger", "mailer")]
    for group in made:
        ErrorLogEntryFactory(group=group, service=group.service, message=group.title)
    return made


def log_in(context, url: str, username: str):
    page = context.new_page()
    page.set_default_timeout(60_000)  # generous: CI machines are shared
    problems = watch(page)
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/admin/")
    return page, problems


def make_triager_on_the_user_page(chromium, url: str) -> list[str]:
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900})
    page, problems = log_in(context, url, "root")
    page.goto(f"{url}/admin/auth/user/add/")
    page.fill("#id_username", "tina")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.select_option("#id_role", "Triager")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    context.close()
    return problems


def titles(page) -> list[str]:
    return page.locator("#result_list tbody tr").all_inner_texts()


def test_a_new_triager_resolves_a_group_from_its_page_and_it_leaves_the_list(
        chromium, live_browser_server, groups):
    url = live_browser_server.url
    problems = make_triager_on_the_user_page(chromium, url)
    context = chromium.new_context(viewport={"width": WIDTH, "height": 900})
    page, triager_problems = log_in(context, url, "tina")
    problems += triager_problems

    page.goto(f"{url}{LIST}")
    target = groups[0]
    assert len(titles(page)) == 3
    # The key columns fit: the list needs no sideways scrolling at 1,280 px.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the window"

    page.click(f"#result_list a[href*='/errorgroup/{target.pk}/change/']")
    page.wait_for_selector("#triage-panel")
    page.click("#triage-resolve")
    page.wait_for_selector(".messagelist .success")
    assert "Resolved" in page.inner_text("#group-status")
    target.refresh_from_db()
    assert target.status == ErrorGroup.Status.RESOLVED

    page.goto(f"{url}{LIST}")
    listed = titles(page)
    assert len(listed) == 2 and not any(target.title in row for row in listed)
    page.click("#changelist-filter a[href*='status__exact=all']")
    page.wait_for_url("**status__exact=all**")
    assert any(target.title in row for row in titles(page))
    assert problems == []
    context.close()
