"""Edit, discard and purge: explicit, permission-checked, audited; the original payload is
never changed and nothing disappears without a record."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from resilience.dead_letters.services import (
    DeadLetterError,
    dead_letter_discard,
    dead_letter_edit,
    dead_letter_purge,
    dead_letters_discard,
)
from resilience.models import AuditEvent, DeadLetter
from tests.factories import DeadLetterFactory

pytestmark = pytest.mark.django_db
Status = DeadLetter.Status


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw-root")


def test_an_edit_sits_beside_the_original_and_is_audited(triager):
    letter = DeadLetterFactory(payload={"qty": -1})
    dead_letter_edit(dead_letter=letter, payload={"qty": 1}, actor=triager, via="api")
    letter.refresh_from_db()
    assert letter.payload == {"qty": -1}
    assert letter.edited_payload == {"qty": 1}
    assert letter.replay_payload == {"qty": 1}
    assert (letter.edited_by, letter.edited_at is not None) == (triager, True)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.via, event.target_type, event.target_id) == (
        "dead_letter.edit", triager, "api", "dead_letter", str(letter.pk))


def test_discard_keeps_the_row_and_records_who(triager):
    letter = DeadLetterFactory()
    dead_letter_discard(dead_letter=letter, actor=triager)
    letter.refresh_from_db()
    assert (letter.status, letter.discarded_by) == (Status.DISCARDED, triager)
    assert AuditEvent.objects.get().action == "dead_letter.discard"
    with pytest.raises(DeadLetterError, match="already discarded"):
        dead_letter_discard(dead_letter=letter, actor=triager)


def test_a_letter_being_replayed_is_not_discarded(triager):
    busy = DeadLetterFactory(status=Status.REPLAYING)
    idle = DeadLetterFactory()
    ids = dead_letters_discard(dead_letters=DeadLetter.objects.all(), actor=triager)
    assert ids == [idle.pk]
    busy.refresh_from_db()
    assert busy.status == Status.REPLAYING


def test_viewers_may_not_edit_or_discard(viewer):
    letter = DeadLetterFactory()
    with pytest.raises(PermissionDenied):
        dead_letter_edit(dead_letter=letter, payload={}, actor=viewer)
    with pytest.raises(PermissionDenied):
        dead_letter_discard(dead_letter=letter, actor=viewer)
    assert not AuditEvent.objects.exists()


def test_purge_deletes_only_settled_rows_past_the_age_in_one_audit_event(superuser):
    now = timezone.now()
    old_discarded = DeadLetterFactory(status=Status.DISCARDED,
                                      discarded_at=now - timedelta(days=40))
    old_replayed = DeadLetterFactory(status=Status.REPLAYED, replayed_at=now - timedelta(days=31))
    recent = DeadLetterFactory(status=Status.REPLAYED, replayed_at=now - timedelta(days=2))
    failed = DeadLetterFactory(status=Status.FAILED, created_at=now - timedelta(days=90))

    result = dead_letter_purge(actor=superuser, older_than_days=30)

    assert (result.count, sorted(result.ids)) == (2, sorted([old_discarded.pk, old_replayed.pk]))
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {recent.pk, failed.pk}
    event = AuditEvent.objects.get()
    assert event.action == "dead_letter.purge"
    assert event.detail["count"] == 2
    assert sorted(event.detail["ids"]) == sorted(result.ids)


def test_a_purged_selection_skips_rows_that_are_not_settled(superuser):
    pending = DeadLetterFactory()
    discarded = DeadLetterFactory(status=Status.DISCARDED, discarded_at=timezone.now())
    result = dead_letter_purge(actor=superuser, ids=[pending.pk, discarded.pk])
    assert result.ids == [discarded.pk]
    assert DeadLetter.objects.filter(pk=pending.pk).exists()


def test_purging_needs_the_purge_permission(triager):
    DeadLetterFactory(status=Status.DISCARDED, discarded_at=timezone.now())
    with pytest.raises(PermissionDenied):
        dead_letter_purge(actor=triager, older_than_days=0)
    assert DeadLetter.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_a_purge_must_say_what(superuser):
    with pytest.raises(DeadLetterError, match="say what"):
        dead_letter_purge(actor=superuser)


def test_purging_nothing_writes_no_audit_event(superuser):
    assert dead_letter_purge(actor=superuser, older_than_days=1).count == 0
    assert not AuditEvent.objects.exists()
