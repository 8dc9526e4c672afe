"""Replay, end to end against a real local webhook receiver: signed, idempotent, paced,
and every attempt recorded on the same row."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from resilience.core import signing
from resilience.dead_letters.replay import (
    dead_letter_replay_batch,
    dead_letter_replay_request,
    dead_letters_reclaim_stuck,
)
from resilience.models import AuditEvent, DeadLetter, DeadLetterAttempt
from tests.factories import DeadLetterFactory, ReplayTargetFactory

Status = DeadLetter.Status
Outcome = DeadLetterAttempt.Outcome


def replay(letters, *, actor=None, force=False):
    """What the API and admin do for a selection, run inline (no broker, no worker)."""
    return dead_letter_replay_batch(
        filters={"ids": [d.pk for d in letters]}, actor_id=actor and actor.pk,
        via="admin" if actor else "system", force=force,
    )


def test_a_webhook_replay_is_signed_idempotent_and_carries_the_payload(
    service, target, receiver, triager
):
    letter = DeadLetterFactory(service=service, payload={"order": 17},
                               headers={"x-correlation-id": "c-1"})

    result = replay([letter], actor=triager)

    assert result.replayed == 1
    [request] = receiver.received
    signing.verify(target.secret, request.body,
                   timestamp=request.headers[signing.TIMESTAMP_HEADER],
                   signature_header=request.headers[signing.SIGNATURE_HEADER],
                   now=time.time())
    assert request.headers["Idempotency-Key"] == str(letter.replay_key)
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "dead_letter_id": letter.pk, "replay_key": str(letter.replay_key),
        "operation": "database.write", "payload": {"order": 17},
        "headers": {"x-correlation-id": "c-1"}, "attempt": 1,
    }
    letter.refresh_from_db()
    assert letter.status == Status.REPLAYED
    assert (letter.replay_count, letter.replayed_by, letter.last_replay_error) == (1, triager, "")
    attempt = letter.attempts.get()
    assert (attempt.outcome, attempt.response_status, attempt.actor, attempt.via) == (
        Outcome.SUCCEEDED, 200, triager, "admin")
    assert attempt.finished_at >= attempt.started_at


def test_a_replayed_letter_is_not_sent_again_unless_forced(service, target, receiver):
    letter = DeadLetterFactory(service=service)
    replay([letter])
    assert replay([letter]).processed == 0
    assert len(receiver.received) == 1

    replay([letter], force=True)
    assert len(receiver.received) == 2
    first, second = (r.json for r in receiver.received)
    assert first["replay_key"] == second["replay_key"]  # the receiver can drop the repeat
    assert second["attempt"] == 2


def test_a_failed_replay_goes_back_to_failed_on_the_same_row(service, target, receiver):
    receiver.status = 500
    letter = DeadLetterFactory(service=service)

    assert replay([letter]).failed == 1
    replay([letter])

    assert DeadLetter.objects.count() == 1  # the same row, never a copy
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert letter.replay_count == 2
    assert "HTTP 500 (temporary)" in letter.last_replay_error
    attempts = list(letter.attempts.all())
    assert [(a.outcome, a.response_status) for a in attempts] == [(Outcome.FAILED, 500)] * 2
    assert all(a.error == "HTTP 500" for a in attempts)
    # An automatic (system) replay that failed for a temporary reason is retried later.
    assert letter.next_replay_at > timezone.now()

    receiver.status = 200
    replay([letter])
    letter.refresh_from_db()
    assert (letter.status, letter.replay_count, letter.last_replay_error) == (
        Status.REPLAYED, 3, "")


def test_a_4xx_is_permanent_and_not_retried_automatically(service, target, receiver):
    receiver.status = 422
    letter = DeadLetterFactory(service=service)
    replay([letter])
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    assert "HTTP 422 (permanent)" in letter.last_replay_error
    assert letter.next_replay_at is None
    assert letter.attempts.get().response_status == 422


def test_a_receiver_slower_than_the_timeout_is_recorded_as_a_timeout(
    service, target, receiver, settings
):
    settings.FAULTLINE = {**settings.FAULTLINE, "OUTBOUND_TIMEOUT_SECONDS": 0.2}
    receiver.delay = 0.6
    letter = DeadLetterFactory(service=service)
    started = time.monotonic()
    replay([letter])
    assert time.monotonic() - started < 0.55
    letter.refresh_from_db()
    assert letter.status == Status.FAILED
    attempt = letter.attempts.get()
    assert attempt.error == "timed out after 0.2s"
    assert attempt.response_status is None


def test_replays_are_paced_at_the_target_rate(service, receiver):
    ReplayTargetFactory(service=service, url=receiver.url, rate_per_second=5)
    letters = [DeadLetterFactory(service=service) for _ in range(6)]
    started = time.monotonic()
    replay(letters)
    assert len(receiver.received) == 6
    times = sorted(r.at for r in receiver.received)
    # Six sends at 5/s take five slots of 0.2 s after the first (which waits for the next
    # slot to begin): the last cannot arrive less than 1 s after the replay started.
    # Network latency only delays arrivals, so this holds however the requests travel.
    assert times[-1] - started >= 5 / 5
    assert times[-1] - started < 2.0
    # And no burst: a window of 0.2 s never holds more than two arrivals.
    assert all(b - a > 0.05 for a, b in zip(times, times[2:], strict=False))


def test_the_edited_payload_is_what_a_replay_sends(service, target, receiver):
    letter = DeadLetterFactory(service=service, payload={"qty": -1},
                               edited_payload={"qty": 1})
    replay([letter])
    assert receiver.received[0].json["payload"] == {"qty": 1}


def test_letters_without_an_enabled_target_are_left_alone(service, receiver):
    ReplayTargetFactory(service=service, url=receiver.url, operation="other.op")
    ReplayTargetFactory(service=service, url=receiver.url, operation="off.op", enabled=False)
    letters = [DeadLetterFactory(service=service),
               DeadLetterFactory(service=service, operation="off.op")]
    assert replay(letters).processed == 0
    assert receiver.received == []
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {Status.PENDING}


def test_automatic_replays_stop_at_the_targets_maximum(service, receiver):
    ReplayTargetFactory(service=service, url=receiver.url, max_replays=2)
    receiver.status = 503
    letter = DeadLetterFactory(service=service)
    for _ in range(4):
        replay([letter])
    letter.refresh_from_db()
    assert letter.replay_count == 2


def test_a_large_selection_is_replayed_in_batches_that_requeue_the_rest(
    service, target, receiver, triager, replay_queue, settings, django_capture_on_commit_callbacks
):
    settings.FAULTLINE = {**settings.FAULTLINE, "REPLAY_BATCH_SIZE": 2}
    letters = [DeadLetterFactory(service=service) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        request = dead_letter_replay_request(
            filters={"ids": [d.pk for d in letters]}, actor=triager, via="api")
    assert (request.matched, request.queued) == (5, 5)
    assert len(replay_queue) == 1

    assert replay_queue.run() == 3  # batches of 2, 2 and 1
    assert len(receiver.received) == 5
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {Status.REPLAYED}
    event = AuditEvent.objects.get(action="dead_letter.replay")
    assert (event.actor, event.via, event.detail["matched"]) == (triager, "api", 5)


def test_a_row_being_replayed_elsewhere_is_not_claimed(service, target, receiver):
    letter = DeadLetterFactory(service=service, status=Status.REPLAYING,
                               last_replay_at=timezone.now())
    assert replay([letter]).processed == 0
    assert receiver.received == []


def test_a_row_abandoned_mid_replay_is_reclaimed(service, target, receiver, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "REPLAY_CLAIM_TIMEOUT_SECONDS": 60}
    stuck_at = timezone.now() - timedelta(minutes=5)
    letter = DeadLetterFactory(service=service, status=Status.REPLAYING, last_replay_at=stuck_at)
    DeadLetterAttempt.objects.create(dead_letter=letter, started_at=stuck_at)  # never finished

    assert replay([letter]).replayed == 1

    letter.refresh_from_db()
    assert letter.status == Status.REPLAYED
    interrupted, done = sorted(letter.attempts.all(), key=lambda a: a.started_at)
    assert interrupted.outcome == Outcome.FAILED
    assert interrupted.error.startswith("interrupted")
    assert done.outcome == Outcome.SUCCEEDED


def test_the_sweep_returns_abandoned_rows_to_failed(service, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "REPLAY_CLAIM_TIMEOUT_SECONDS": 60}
    old = DeadLetterFactory(service=service, status=Status.REPLAYING,
                            last_replay_at=timezone.now() - timedelta(minutes=5))
    fresh = DeadLetterFactory(service=service, status=Status.REPLAYING,
                              last_replay_at=timezone.now())
    assert dead_letters_reclaim_stuck() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == (Status.FAILED, Status.REPLAYING)
    assert old.last_replay_error.startswith("interrupted")


@pytest.mark.django_db(transaction=True)
def test_two_workers_replaying_the_same_letters_send_each_once(postgres, service, receiver):
    import threading

    from django.db import connections

    ReplayTargetFactory(service=service, url=receiver.url)
    letters = [DeadLetterFactory(service=service) for _ in range(20)]
    errors = []

    def work():
        try:
            replay(letters)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent = [r.json["dead_letter_id"] for r in receiver.received]
    assert sorted(sent) == sorted(d.pk for d in letters)
    assert DeadLetterAttempt.objects.count() == 20
