"""The operators' banner on the admin home and the dashboard: each warning shows when its
condition holds, with the link to the page that fixes it, and is absent otherwise."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, Channel
from resilience.circuits.services import circuit_record_failure
from resilience.digest.service import digest_batch
from resilience.models import CircuitState, ErrorLogEntry
from resilience.observability import operator_warnings
from tests import factories

PAGES = ("/admin/", "/admin/dashboard/")
CHANNELS = "/admin/alerts/channel/"
UNDELIVERED = ("/admin/alerts/alert/?level__exact=CRITICAL"
               "&amp;status__in=UNDELIVERED%2CLOGGED&amp;range=24h")
OPEN_CIRCUITS = ("/admin/resilience/circuitstate/?state__in="
                 "OPEN%2CHALF_OPEN%2CFORCED_OPEN")


@pytest.fixture
def quiet(db, settings):
    """Nothing wrong: a channel enabled, no alert, nothing pending, every circuit closed."""
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}
    Channel.objects.update(enabled=False)
    Channel.objects.create(kind=Channel.Kind.SLACK, name="on-call",
                           url="https://hooks.slack.example/x", enabled=True)


def pages(user) -> list[str]:
    client = Client()
    client.force_login(user)
    return [client.get(url).content.decode() for url in PAGES]


def banner(html: str, key: str) -> str:
    """The banner's line for `key`, or "" when it is absent."""
    marker = f'data-warning="{key}">'
    if marker not in html:
        return ""
    return html.split(marker, 1)[1].split("</li>", 1)[0]


def critical_alert(status: str, *, age: timedelta = timedelta(hours=1)) -> Alert:
    return Alert.objects.create(kind="CRITICAL_ERROR", level="CRITICAL", title="Database down",
                                status=status, subject_key="s", group_key="g",
                                created_at=timezone.now() - age)


def test_nothing_wrong_shows_no_banner(quiet, viewer):
    for html in pages(viewer):
        assert 'id="fl-warnings"' not in html


def test_no_channel_enabled_links_to_the_channels(quiet, viewer):
    Channel.objects.update(enabled=False)
    for html in pages(viewer):
        line = banner(html, "no_channel")
        assert "No alert channel is enabled" in line
        assert f'href="{CHANNELS}"' in line


def test_undelivered_critical_alerts_of_the_last_day_link_to_them_filtered(quiet, viewer):
    critical_alert(Alert.Status.DELIVERED)
    critical_alert(Alert.Status.UNDELIVERED, age=timedelta(hours=30))  # older than the day
    for html in pages(viewer):
        assert banner(html, "critical_undelivered") == ""
    critical_alert(Alert.Status.UNDELIVERED)
    critical_alert(Alert.Status.LOGGED)  # a rule with no channel reached nobody either
    for html in pages(viewer):
        line = banner(html, "critical_undelivered")
        assert "2 CRITICAL alerts were not delivered" in line
        assert f'href="{UNDELIVERED}"' in line


def test_the_undelivered_link_lists_exactly_those_alerts(quiet, viewer):
    wanted = critical_alert(Alert.Status.UNDELIVERED)
    critical_alert(Alert.Status.DELIVERED)
    client = Client()
    client.force_login(viewer)
    page = client.get(UNDELIVERED.replace("&amp;", "&"))
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [wanted]


def test_digestion_lag_over_the_alert_threshold_links_to_the_digest_status(quiet, viewer,
                                                                          settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_DIGEST_LAG_SECONDS": 300}
    entry = factories.ErrorLogEntryFactory()
    for html in pages(viewer):  # just received: not late
        assert banner(html, "digest_lag") == ""
    ErrorLogEntry.objects.filter(pk=entry.pk).update(
        received_at=timezone.now() - timedelta(minutes=10))
    for html in pages(viewer):
        line = banner(html, "digest_lag")
        assert "Digestion lags" in line and "10 min ago" in line
        assert 'href="/admin/dashboard/#fl-digest-lag"' in line
    digest_batch(limit=10)
    for html in pages(viewer):
        assert banner(html, "digest_lag") == ""


def test_open_circuits_are_named_and_link_to_the_list_filtered_open(quiet, viewer):
    for _ in range(5):
        circuit_record_failure(operation="timer.execute")
    assert CircuitState.objects.get().state == CircuitState.State.OPEN
    for html in pages(viewer):
        line = banner(html, "open_circuits")
        assert "1 circuit is open (timer.execute)" in line
        assert f'href="{OPEN_CIRCUITS}"' in line


def test_the_open_circuits_link_lists_only_open_ones(quiet, viewer):
    for _ in range(5):
        circuit_record_failure(operation="timer.execute")
    circuit_record_failure(operation="event.publish")  # one failure: still closed
    client = Client()
    client.force_login(viewer)
    page = client.get(OPEN_CIRCUITS)
    assert [c.operation for c in page.context["cl"].result_list] == ["timer.execute"]


def test_a_user_who_cannot_open_the_page_gets_the_text_without_the_link(quiet):
    Channel.objects.update(enabled=False)
    user = User.objects.create_user("staff-only", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_errormetric"))
    for html in pages(user):
        line = banner(html, "no_channel")
        assert "No alert channel is enabled" in line and "href" not in line


def test_a_failing_check_is_logged_and_the_others_still_show(quiet, viewer, monkeypatch,
                                                            caplog):
    def broken(now):
        raise RuntimeError("boom")

    monkeypatch.setitem(operator_warnings._CHECKS, "test.broken", broken)
    Channel.objects.update(enabled=False)
    (home, _) = pages(viewer)
    assert "No alert channel is enabled" in banner(home, "no_channel")
    assert "warning check test.broken failed" in caplog.text
