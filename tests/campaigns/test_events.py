"""The event bus on Redis: a stream a consumer can catch up on; the API and the command."""

import io
import json
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns import events
from resilience import conf


def test_publish_appends_to_the_stream_and_a_reader_catches_up(bus, settings):
    first = events.event_publish("lifecycle.campaign.started", {"campaign_id": 1}, event_id=7)
    events.event_publish("lifecycle.campaign.completed", {"campaign_id": 1}, event_id=8)
    key = events.stream_key("lifecycle")
    assert key == f"{conf.get('EVENT_BUS_STREAM_PREFIX')}:events:lifecycle"
    assert events.client().xlen(key) == 2
    everything = events.events_read()
    assert [(e.topic, e.event_id, e.payload) for e in everything] == [
        ("lifecycle.campaign.started", "7", {"campaign_id": 1}),
        ("lifecycle.campaign.completed", "8", {"campaign_id": 1}),
    ]
    assert [e.topic for e in events.events_read(after=first)] == [
        "lifecycle.campaign.completed"]


def test_the_stream_is_trimmed_to_about_maxlen(bus, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "EVENT_BUS_MAXLEN": 10}
    for n in range(300):
        events.event_publish("lifecycle.x", {"n": n})
    assert events.client().xlen(events.stream_key("lifecycle")) < 300  # approximate (~)


def test_without_a_bus_publishing_says_so(no_bus):
    with pytest.raises(events.EventBusNotConfigured, match="no event bus configured"):
        events.event_publish("lifecycle.x", {})


def test_the_api_lists_events_after_an_id(bus, client, viewer):
    first = events.event_publish("lifecycle.campaign.started", {"campaign_id": 1}, event_id=1)
    events.event_publish("lifecycle.campaign.completed", {"campaign_id": 1}, event_id=2)
    client.force_login(viewer)
    body = client.get("/api/v1/lifecycle-events/?after=0").json()
    assert [e["topic"] for e in body["events"]] == ["lifecycle.campaign.started",
                                                    "lifecycle.campaign.completed"]
    after = client.get(f"/api/v1/lifecycle-events/?after={first}").json()
    assert [e["event_id"] for e in after["events"]] == ["2"]
    assert after["next_after"] == after["events"][-1]["id"]


def test_the_api_is_for_operators_and_checks_its_input(client, viewer, db, settings):
    settings.EVENT_BUS_URL = ""
    assert client.get("/api/v1/lifecycle-events/").status_code in (401, 403)
    client.force_login(viewer)
    bad = client.get("/api/v1/lifecycle-events/?after=yesterday")
    assert bad.status_code == 400 and bad.json()["field"] == "after"
    assert client.get("/api/v1/lifecycle-events/?count=9999").status_code == 400
    down = client.get("/api/v1/lifecycle-events/")
    assert down.status_code == 503 and "no event bus configured" in down.json()["message"]


def test_the_command_prints_the_stream(bus):
    events.event_publish("lifecycle.campaign.started", {"campaign_id": 5}, event_id=1)
    out = io.StringIO()
    call_command("lifecycle_events", "--from", "0", "--json", stdout=out)
    [line] = out.getvalue().splitlines()
    assert json.loads(line)["payload"] == {"campaign_id": 5}


def test_the_command_follows_new_events(bus):
    def later():
        time.sleep(0.3)
        events.event_publish("lifecycle.campaign.started", {"campaign_id": 1}, event_id=1)
        events.event_publish("lifecycle.campaign.completed", {"campaign_id": 1}, event_id=2)

    out = io.StringIO()
    publisher = threading.Thread(target=later)
    publisher.start()
    call_command("lifecycle_events", "--from", "$", "--follow", "--limit", "2",
                 "--block-ms", "3000", stdout=out)
    publisher.join()
    lines = out.getvalue().splitlines()
    assert ["lifecycle.campaign.started" in lines[0], "completed" in lines[1]] == [True, True]


def test_the_command_explains_a_missing_bus(no_bus):
    with pytest.raises(CommandError, match="stay in the outbox"):
        call_command("lifecycle_events")
