"""The monitors' admin pages: status, schedule, last and next check-in; the history."""

from datetime import UTC, datetime

from django.test import Client

from monitors.models import CheckIn
from monitors.services import check_in_record


def test_viewers_see_each_monitors_status_schedule_and_check_ins(service, viewer, db):
    check_in_record(service_id=service.pk, now=datetime(2026, 6, 1, 3, tzinfo=UTC), payload={
        "monitor_slug": "nightly-export", "status": "error", "duration": 2.0,
        "monitor_config": {"schedule": {"type": "crontab", "value": "0 3 * * *"}}})
    client = Client()
    client.force_login(viewer)
    listing = client.get("/admin/monitors/monitor/").content.decode()
    assert "nightly-export" in listing and "Failed" in listing
    assert "0 3 * * * (UTC)" in listing
    assert "June 2, 2026, 3 a.m." in listing or "2026-06-02" in listing
    monitor_id = CheckIn.objects.get().monitor_id
    page = client.get(f"/admin/monitors/monitor/{monitor_id}/change/")
    assert page.status_code == 200
    assert "Check-ins (the last 50)" in page.content.decode()
    assert "Failed" in page.content.decode()


def test_viewers_read_monitors_and_triagers_may_also_pause_them(viewer, triager):
    for user in (viewer, triager):
        assert user.has_perm("monitors.view_monitor") and user.has_perm("monitors.view_checkin")
    assert triager.has_perm("monitors.change_monitor")
    assert not viewer.has_perm("monitors.change_monitor")
    assert not triager.has_perm("monitors.add_monitor")
