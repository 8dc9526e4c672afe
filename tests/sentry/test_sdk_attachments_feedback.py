"""Attachments and user feedback from the real Python sentry_sdk, pointed at a live
Faultline: kept, linked from the entry and group pages, downloadable by operators."""

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from sentry_sdk.attachments import Attachment
from sentry_sdk.envelope import Envelope, Item, PayloadRef

from recovery.cleanup import cleanup_attachments
from resilience import conf
from resilience.digest.service import digest_batch
from resilience.ingest.keys import service_key_dsn
from resilience.models import ErrorLogEntry, EventAttachment, UserFeedback
from tests import factories
from tests.sentry.live import python_sdk

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server, service, settings):
    settings.EXTERNAL_URL = live_server.url
    key = factories.service_key(service)[0]
    with python_sdk(service_key_dsn(key)) as sdk:
        yield sdk


def dropped(item_type):
    return REGISTRY.get_sample_value("faultline_sentry_items_dropped_total",
                                     {"type": item_type}) or 0.0


def fail_and_capture(sdk, **attachments: bytes) -> str:
    with sdk.new_scope() as scope:
        for filename, data in attachments.items():
            scope.add_attachment(bytes=data, filename=filename, content_type="text/plain")
        try:
            raise RuntimeError("export failed")
        except RuntimeError as exc:
            event_id = sdk.capture_exception(exc)
    sdk.flush(timeout=5)
    return event_id


def send(sdk, envelope: Envelope) -> None:
    sdk.get_client().transport.capture_envelope(envelope)
    sdk.flush(timeout=5)


def test_an_events_attachments_are_kept_on_disk_and_linked_from_its_entry(sdk, viewer):
    log = b"line 1\nline 2\n" * 100
    event_id = fail_and_capture(sdk, **{"export.log": log, "state.json": b'{"step": 3}'})
    entry = ErrorLogEntry.objects.get(event_id=event_id)
    stored = {a.filename: a for a in EventAttachment.objects.filter(event_id=event_id)}
    assert sorted(stored) == ["export.log", "state.json"]
    kept = stored["export.log"]
    assert (kept.service_id, kept.size, kept.content_type) == (entry.service_id, len(log),
                                                              "text/plain")
    assert kept.sha256 == hashlib.sha256(log).hexdigest()
    path = Path(conf.get("ATTACHMENT_DIR")) / kept.path
    assert path.read_bytes() == log
    assert kept.path.startswith(f"{entry.service_id}/{event_id}/")

    client = Client()
    client.force_login(viewer)
    page = client.get(f"/admin/resilience/errorlogentry/{entry.pk}/change/")
    link = f"/admin/attachments/{kept.pk}/"
    assert link in page.content.decode()
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == log
    assert download["Content-Type"] == "application/octet-stream"
    assert 'attachment; filename="export.log"' in download["Content-Disposition"]


def test_the_download_needs_the_permission_to_read_entries(sdk, db):
    event_id = fail_and_capture(sdk, **{"secret.txt": b"s3cr3t"})
    attachment = EventAttachment.objects.get(event_id=event_id)
    nobody = User.objects.create_user("nobody", password="pw", is_staff=True)
    client = Client()
    client.force_login(nobody)
    assert client.get(f"/admin/attachments/{attachment.pk}/").status_code == 403
    assert Client().get(f"/admin/attachments/{attachment.pk}/").status_code == 302  # login


def test_an_attachment_over_the_limit_is_dropped_and_counted_and_the_event_kept(sdk, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ATTACHMENT_MAX_BYTES": 1000,
                          "ATTACHMENT_EVENT_MAX_BYTES": 1500}
    before = dropped("attachment")
    event_id = fail_and_capture(sdk, **{"big.bin": b"x" * 1001, "a.txt": b"a" * 800,
                                        "b.txt": b"b" * 800})
    assert ErrorLogEntry.objects.filter(event_id=event_id).exists()
    # One over the per-attachment limit, one over the event's: only a.txt is kept.
    assert list(EventAttachment.objects.values_list("filename", flat=True)) == ["a.txt"]
    assert dropped("attachment") == before + 2


def test_an_attachment_sent_later_joins_its_event(sdk):
    event_id = fail_and_capture(sdk)
    later = Envelope(headers={"event_id": event_id})
    later.add_item(Attachment(bytes=b"core dump", filename="dump.txt").to_envelope_item())
    send(sdk, later)
    send(sdk, later)  # a retry stores it once
    attachment = EventAttachment.objects.get()
    assert (attachment.event_id, attachment.filename) == (event_id, "dump.txt")


def test_a_user_report_is_attached_to_its_event_and_group(sdk, viewer):
    event_id = fail_and_capture(sdk)
    digest_batch(limit=100)
    report = Envelope(headers={"event_id": event_id})
    report.add_item(Item(payload=PayloadRef(json={
        "event_id": event_id, "name": "Ada", "email": "ada@example.com",
        "comments": "The export <b>never</b> arrived.",
    }), type="user_report"))
    send(sdk, report)
    feedback = UserFeedback.objects.get()
    assert (feedback.kind, feedback.event_id, feedback.name, feedback.email) == (
        "user_report", event_id, "Ada", "ada@example.com")

    entry = ErrorLogEntry.objects.get(event_id=event_id)
    client = Client()
    client.force_login(viewer)
    for page in (f"/admin/resilience/errorlogentry/{entry.pk}/change/",
                 f"/admin/resilience/errorgroup/{entry.group_id}/change/"):
        html = client.get(page).content.decode()
        assert "The export &lt;b&gt;never&lt;/b&gt; arrived." in html, page
        assert "ada@example.com" in html


def test_a_feedback_event_is_stored_against_its_associated_event(sdk):
    event_id = fail_and_capture(sdk)
    feedback_id = uuid.uuid4().hex
    envelope = Envelope(headers={"event_id": feedback_id})
    envelope.add_item(Item(payload=PayloadRef(json={
        "event_id": feedback_id, "type": "feedback", "platform": "python",
        "contexts": {"feedback": {"message": "Still broken after the retry",
                                  "contact_email": "bob@example.com", "name": "Bob",
                                  "associated_event_id": event_id,
                                  "url": "https://shop.example.com/export"}},
    }), type="feedback"))
    send(sdk, envelope)
    feedback = UserFeedback.objects.get()
    assert (feedback.kind, feedback.feedback_id, feedback.event_id) == (
        "feedback", feedback_id, event_id)
    assert (feedback.comments, feedback.email, feedback.url) == (
        "Still broken after the retry", "bob@example.com", "https://shop.example.com/export")


def test_a_user_report_naming_no_event_is_dropped_and_counted(sdk):
    before = dropped("user_report")
    report = Envelope()
    report.add_item(Item(payload=PayloadRef(json={"name": "Eve", "comments": "hi"}),
                         type="user_report"))
    send(sdk, report)
    assert not UserFeedback.objects.exists()
    assert dropped("user_report") == before + 1


def test_attachments_and_feedback_go_with_their_entry_at_retention(sdk, settings):
    event_id = fail_and_capture(sdk, **{"old.log": b"old"})
    report = Envelope(headers={"event_id": event_id})
    report.add_item(Item(payload=PayloadRef(json={"event_id": event_id, "comments": "x"}),
                         type="user_report"))
    send(sdk, report)
    path = Path(conf.get("ATTACHMENT_DIR")) / EventAttachment.objects.get().path
    later = timezone.now() + timedelta(days=conf.get("RETENTION_ENTRIES_DAYS") + 1)

    # While the entry is kept (here: not yet digested), so are they.
    assert cleanup_attachments(later).changed["deleted"] == 0
    ErrorLogEntry.objects.all().delete()  # what cleanup.entries does past the retention
    result = cleanup_attachments(later)
    assert (result.changed["deleted"], result.changed["feedback_deleted"]) == (1, 1)
    assert not EventAttachment.objects.exists() and not UserFeedback.objects.exists()
    assert not path.exists() and not path.parent.exists()
