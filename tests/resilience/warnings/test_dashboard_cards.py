"""The dashboard's headline cards link to the lists behind them, filtered as the card
counts; the recovery-rate card says when no outcome was reported (unless the seed's 0 is
asked for)."""

import re

from django.test import Client

from resilience.circuits.services import circuit_record_failure
from resilience.digest.service import digest_batch
from resilience.models import DeadLetter, ErrorGroup
from tests import factories

URL = "/admin/dashboard/"


def dashboard(user, **query) -> str:
    client = Client()
    client.force_login(user)
    return client.get(URL, query).content.decode()


def card_link(html: str, title: str) -> str:
    found = re.search(rf'<h3><a href="([^"]+)"[^>]*>{title}</a></h3>', html)
    return found.group(1).replace("&amp;", "&") if found else ""


def listed(user, url: str) -> list:
    client = Client()
    client.force_login(user)
    page = client.get(url)
    assert page.status_code == 200, url
    return list(page.context["cl"].result_list)


def test_each_card_links_to_its_list_scoped_to_the_range_and_service(viewer):
    service = factories.ServiceFactory()
    html = dashboard(viewer, range="24h", service=service.pk)
    scope = f"service__id__exact={service.pk}"
    assert card_link(html, "Total errors") == (
        f"/admin/resilience/errorlogentry/?range=24h&{scope}")
    assert card_link(html, "Open groups") == (
        f"/admin/resilience/errorgroup/?status__exact=OPEN&{scope}")
    assert card_link(html, "Pending dead letters") == (
        f"/admin/resilience/deadletter/?status__exact=PENDING&{scope}")
    # Circuits are counted for every service, and listed so.
    assert card_link(html, "Open circuits") == (
        "/admin/resilience/circuitstate/?state__in=OPEN%2CHALF_OPEN%2CFORCED_OPEN")
    assert 'data-range-param="range"' in html  # the script keeps them in step


def test_the_links_list_what_the_cards_count(viewer, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}
    service = factories.ServiceFactory()
    entry = factories.ErrorLogEntryFactory(service=service)
    factories.ErrorLogEntryFactory()  # another service's
    digest_batch(limit=10)
    entry.refresh_from_db()
    ErrorGroup.objects.exclude(pk=entry.group_id).update(status=ErrorGroup.Status.RESOLVED)
    letter = factories.DeadLetterFactory(service=service)
    factories.DeadLetterFactory(service=service, status=DeadLetter.Status.DISCARDED)
    for _ in range(5):
        circuit_record_failure(operation="timer.execute")
    html = dashboard(viewer, range="24h", service=service.pk)
    assert [e.pk for e in listed(viewer, card_link(html, "Total errors"))] == [entry.pk]
    assert [g.pk for g in listed(viewer, card_link(html, "Open groups"))] == [entry.group_id]
    assert listed(viewer, card_link(html, "Pending dead letters")) == [letter]
    circuits = listed(viewer, card_link(html, "Open circuits"))
    assert [c.operation for c in circuits] == ["timer.execute"]


def test_a_card_whose_list_the_user_cannot_view_has_no_link(db):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("metrics-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_errormetric"))
    html = dashboard(user)
    assert "<h3>Total errors</h3>" in html and card_link(html, "Total errors") == ""


def test_the_recovery_card_shows_the_seeds_zero_when_asked(viewer, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "METRICS_NO_OUTCOMES_AS_NULL": False}
    factories.ErrorLogEntryFactory()
    digest_batch(limit=10)
    html = dashboard(viewer)
    assert 'data-figure="recovery_rate">0.0 %<' in html
    assert "No outcomes reported" not in html
