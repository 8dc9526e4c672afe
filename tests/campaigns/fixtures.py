"""Fixtures for the campaign lifecycle (used by tests/campaigns and tests/recovery):
campaigns, and the event bus three ways (a real Redis stream, a bus that refuses
connections, a recording stand-in)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import events
from campaigns.models import Campaign


@pytest.fixture
def make_campaign(db):
    def make(status="DRAFT", start_in=timedelta(minutes=-1), end_in=timedelta(hours=1),
             **kwargs):
        now = timezone.now()
        return Campaign.objects.create(
            name=kwargs.pop("name", f"campaign-{uuid.uuid4().hex[:6]}"), status=status,
            start_time=now + start_in if start_in is not None else None,
            end_time=now + end_in if end_in is not None else None, **kwargs,
        )

    return make


@pytest.fixture
def stream_prefix(settings):
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.FAULTLINE = {**settings.FAULTLINE, "EVENT_BUS_STREAM_PREFIX": prefix}
    return prefix


@pytest.fixture
def bus(redis_url, settings, stream_prefix):
    """The real bus: a Redis stream under a per-test prefix, removed afterwards."""
    settings.EVENT_BUS_URL = redis_url
    yield events
    events.client().delete(events.stream_key("lifecycle"))


@pytest.fixture
def bus_down(db, settings, stream_prefix):
    """A bus that refuses connections (nothing listens on port 1)."""
    settings.EVENT_BUS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def no_bus(db, settings):
    settings.EVENT_BUS_URL = ""


class FakeBus(list):
    """Records what would have been published; `down = True` makes it refuse."""

    down = False

    def publish(self, topic, payload, *, event_id="", occurred_at=None):
        if self.down:
            raise ConnectionRefusedError(111, "connection refused")
        self.append((topic, payload, str(event_id)))
        return f"{len(self)}-0"


@pytest.fixture
def fake_bus(db, settings, monkeypatch):
    settings.EVENT_BUS_URL = "redis://fake"
    recorder = FakeBus()
    monkeypatch.setattr(events, "event_publish", recorder.publish)
    return recorder


@pytest.fixture(scope="module")
def restore_migrated_data(django_db_blocker):
    """For modules of transactional tests: their flush empties every table, including what
    the data migrations wrote (roles, periodic tasks, default alert rules) that later tests
    expect. Module-scoped, so this runs after the last test's flush and puts that data back
    from the snapshot taken when the test database was created (serialized_rollback)."""
    yield
    from django.db import connection

    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)
