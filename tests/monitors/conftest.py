"""The alert messages the monitors' signal queues, kept instead of sent to a broker."""

import pytest

from alerts import tasks


@pytest.fixture
def monitor_alerts(monkeypatch) -> list[dict]:
    """The kwargs of each queued alerts_monitor_failed task, in order."""
    queued: list[dict] = []
    monkeypatch.setattr(tasks.alerts_monitor_failed, "apply_async",
                        lambda kwargs=None, **options: queued.append(dict(kwargs or {})))
    return queued


@pytest.fixture
def monitor_rule(db):
    """An operator's rule for every cron monitor (tests with real commits lose the
    migration's default rules when the database is flushed)."""
    from alerts.models import AlertRule

    return AlertRule.objects.create(name="Cron monitors", operation="monitor:*")
