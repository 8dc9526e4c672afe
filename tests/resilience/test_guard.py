"""The in-process guard: every strategy path, each fallback, and escalation."""

import logging
from datetime import timedelta

import pytest
from celery import Celery
from django.db import IntegrityError
from django.utils import timezone

import resilience
from campaigns.models import Campaign, CampaignTimer, OutboxEvent
from resilience.handling.fallbacks import register_fallback
from resilience.handling.guard import CircuitOpenError, handle_error
from resilience.models import ClassificationRule, DeadLetter, DeferredWrite, ErrorLogEntry


def _entry(result) -> ErrorLogEntry:
    return ErrorLogEntry.objects.get(pk=result.entry_id)


def test_a_fallback_takes_over_and_the_error_is_recorded_with_its_outcome(db):
    with resilience.guard("database.write", payload={"row": 1}, write="orders.insert") as g:
        raise ValueError("bad row")  # BUSINESS_LOGIC, recoverable → FALLBACK
    assert g.result.strategy == "FALLBACK"
    assert g.result.handled
    deferred = DeferredWrite.objects.get(pk=g.result.fallback_result["deferred_write_id"])
    assert deferred.operation == "orders.insert"
    assert deferred.payload == {"row": 1}
    entry = _entry(g.result)
    assert entry.source == "guard"
    assert entry.operation == "database.write"
    assert entry.name == "ValueError"
    assert entry.outcome == "SUCCEEDED"
    assert "raise ValueError" in entry.stack_trace


def test_the_decorator_returns_the_fallbacks_result(db):
    @resilience.guard("database.write", payload={"row": 2})
    def write():
        raise ValueError("nope")

    assert "deferred_write_id" in write()


def test_timer_execute_marks_the_timer_failed_with_a_retry_in_five_minutes(db):
    campaign = Campaign.objects.create(name="spring")
    timer = CampaignTimer.objects.create(
        campaign=campaign, type="campaign.start", scheduled_at=timezone.now()
    )
    with resilience.guard("timer.execute", timer_id=timer.pk, campaign_id=campaign.pk) as g:
        raise KeyError("start_time")  # PERMANENT, recoverable → FALLBACK
    timer.refresh_from_db()
    assert g.result.handled and g.result.fallback_result["result"] == "rescheduled"
    assert timer.status == "FAILED"
    assert timer.error_message == "Execution failed, scheduled for retry"
    delay = timer.next_retry_at - timezone.now()
    assert timedelta(minutes=4) < delay <= timedelta(minutes=5)
    assert _entry(g.result).timer_id == str(timer.pk)


@pytest.mark.parametrize(("priority", "result"), [("low", "skipped"), ("high", "simplified")])
def test_campaign_update_skips_low_priority_else_writes_the_essentials(db, priority, result):
    campaign = Campaign.objects.create(name="c", status="RUNNING")
    updates = {"status": "PAUSED", "name": "renamed", "priority": priority}
    with resilience.guard("campaign.update", campaign_id=campaign.pk, payload=updates) as g:
        raise ValueError("update rejected")
    campaign.refresh_from_db()
    assert g.result.fallback_result["result"] == result
    assert campaign.name == "c"  # never an inessential field
    assert campaign.status == ("RUNNING" if result == "skipped" else "PAUSED")


def test_event_publish_stores_the_event_once_retries_are_used_up(db):
    event = {"campaign_id": 7, "at": "2026-11-29T10:00:00Z"}
    with resilience.guard("event.publish", topic="lifecycle.campaign.started", payload=event,
                          attempt_count=3) as g:
        raise ConnectionError("bus down")  # retryable, but no attempts left → FALLBACK
    stored = OutboxEvent.objects.get()
    assert g.result.strategy == "FALLBACK"
    assert stored.topic == "lifecycle.campaign.started"
    assert stored.payload == event


def test_a_retryable_error_without_a_task_propagates_with_the_decision(db):
    with pytest.raises(ConnectionError) as raised, resilience.guard("event.publish",
                                                                      topic="t"):
        raise ConnectionError("bus down")
    result = raised.value.faultline
    assert result.strategy == "RETRY"
    assert 1000 <= result.retry_after_ms <= 1100
    assert not OutboxEvent.objects.exists()


# Not the current app: its eager mode must not leak into other tests' shared tasks.
celery_app = Celery("guard-tests", broker="memory://", set_as_current=False)
celery_app.conf.task_always_eager = True
calls: list[int] = []


@celery_app.task(bind=True, max_retries=5)
@resilience.guard("payment.charge", task=True)
def flaky_charge(self):
    calls.append(self.request.retries)
    if self.request.retries < 2:
        raise ConnectionRefusedError(111, "connection refused")
    return "charged"


def test_in_a_celery_task_a_retry_is_a_celery_retry_with_the_backoff(db):
    calls.clear()
    assert flaky_charge.apply().get() == "charged"
    assert calls == [0, 1, 2]
    entries = ErrorLogEntry.objects.filter(operation="payment.charge").order_by("id")
    assert [(e.strategy, e.attempt_count) for e in entries] == [("RETRY", 0), ("RETRY", 1)]
    assert entries[1].retry_after_ms > entries[0].retry_after_ms  # exponential backoff


class ShardMovedError(Exception):
    """Retryable by category (an operator's rule), but not a code the seed retries."""


@celery_app.task(bind=True, max_retries=5)
@resilience.guard("shard.read", task=True)
def read_moved_shard(self):
    calls.append(self.request.retries)
    raise ShardMovedError("shard moved")


def test_a_retry_decision_for_a_code_off_the_seeds_list_is_not_retried_in_process(db):
    # The seed's RetryHandler.shouldRetry: retryable, attempts left, and the code listed in
    # isRetryableErrorCode (FAULTLINE_GUARD_RETRYABLE_CODES).
    ClassificationRule.objects.create(code="ShardMovedError", category="TRANSIENT")
    calls.clear()
    with pytest.raises(ShardMovedError) as raised:
        read_moved_shard.apply().get()
    assert calls == [0]
    assert raised.value.faultline.strategy == "RETRY"


def test_the_retryable_codes_are_a_setting(db, settings):
    ClassificationRule.objects.create(code="ShardMovedError", category="TRANSIENT")
    settings.FAULTLINE = {**settings.FAULTLINE,
                          "GUARD_RETRYABLE_CODES": ["ECONNREFUSED", "ShardMovedError"]}
    calls.clear()
    with pytest.raises(ShardMovedError):
        read_moved_shard.apply().get()
    assert calls == [0, 1, 2, 3]  # retried until the attempts ran out (RETRY_MAX_ATTEMPTS)


@pytest.mark.parametrize(("error", "retried"), [
    (ConnectionRefusedError(111, "refused"), True),  # a ConnectionError, errno ECONNREFUSED
    (TimeoutError("slow"), True),
    (ConnectionResetError(104, "reset"), True),
    (OSError(110, "timed out"), True),  # ETIMEDOUT by errno
    (ValueError("bad"), False),
])
def test_the_seeds_retryable_codes_match_python_exceptions(error, retried):
    from resilience.handling.guard import retries_code

    assert retries_code(error) is retried


def test_data_corruption_is_dead_lettered_and_still_raised(db):
    # By default DATA_CORRUPTION is CRITICAL (an immediate alert, as in the seed); an
    # operator's rule at HIGH is what lets the seed's DEAD_LETTER branch decide.
    ClassificationRule.objects.create(code="IntegrityError", category="DATA_CORRUPTION",
                                      severity="HIGH")
    with pytest.raises(Exception, match="duplicate key") as raised, resilience.guard(
        "ledger.post", payload={"amount": 5}, attempt_count=1
    ):
        raise IntegrityError("duplicate key value violates unique constraint")
    result = raised.value.faultline
    assert result.strategy == "DEAD_LETTER"
    letter = DeadLetter.objects.get(pk=result.dead_letter_id)
    assert letter.operation == "ledger.post"
    assert letter.payload == {"amount": 5}
    assert letter.entry_id == result.entry_id
    assert letter.attempt_count == 1


def test_a_security_error_asks_for_an_immediate_alert_and_propagates(db, caplog):
    with caplog.at_level(logging.CRITICAL, logger="faultline.guard"), pytest.raises(
        PermissionError
    ) as raised, resilience.guard("files.read"):
        raise PermissionError("not allowed")
    assert raised.value.faultline.strategy == "IMMEDIATE_ALERT"
    assert "needs attention now" in caplog.text


def test_a_critical_error_also_tries_the_fallback(db):
    # The seed's handleWithImmediateAlert: alert, then "also try fallback if available".
    @register_fallback("test.critical_with_fallback")
    def cached(ctx):
        return {"result": "cached"}

    with resilience.guard("test.critical_with_fallback") as g:
        raise MemoryError("out of memory")  # RESOURCE_EXHAUSTION → CRITICAL
    assert g.result.strategy == "IMMEDIATE_ALERT"
    assert g.result.fallback_ran and g.result.fallback_result == {"result": "cached"}
    assert ErrorLogEntry.objects.get(pk=g.result.entry_id).outcome == "SUCCEEDED"


def test_a_failing_fallback_is_a_failed_outcome_not_an_escalation(db, caplog):
    # The seed's executeFallback catches the fallback's error ({success: false}); the
    # FAILED outcome raises "Fallback failed for <op>" (tests/alerts/test_seed_alerts.py).
    @register_fallback("test.broken_fallback")
    def broken(ctx):
        raise RuntimeError("fallback exploded")

    with caplog.at_level(logging.ERROR, logger="faultline.guard"), pytest.raises(
        ValueError, match="original"
    ) as raised, resilience.guard("test.broken_fallback"):
        raise ValueError("original")
    result = raised.value.faultline
    assert not result.escalated and not result.handled and not result.fallback_ran
    assert "fallback exploded" in caplog.text
    assert not ErrorLogEntry.objects.filter(code="FAULTLINE_HANDLER_FAILURE").exists()
    assert _entry(result).outcome == "FAILED"


def test_handle_error_never_raises_even_when_recording_fails(db, monkeypatch, caplog):
    from resilience.handling import guard as handling

    def no_database(report):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(handling, "_record", no_database)
    with caplog.at_level(logging.CRITICAL, logger="faultline.escalation"):
        result = handle_error(ValueError("x"), {"operation": "database.write"})
    assert result.escalated
    assert "database is gone" in caplog.text


def test_the_cause_chain_is_recorded(db):
    def fails():
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as exc:
            raise RuntimeError("could not load profile") from exc

    result = handle_error(_capture(fails), {"operation": "profile.load"})
    entry = _entry(result)
    assert entry.cause["name"] == "ConnectionRefusedError"
    assert entry.cause["errno"] == 111


def _capture(func) -> BaseException:
    try:
        func()
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        return exc
    raise AssertionError("did not raise")


def test_an_open_circuit_runs_the_fallback_or_refuses(db, redis_url, triager):
    from resilience.circuits.services import circuit_force, circuit_reset

    circuit_force(operation="database.write", state="FORCED_OPEN", actor=triager)
    circuit_force(operation="search.query", state="FORCED_OPEN", actor=triager)
    try:
        ran = []

        @resilience.guard("database.write", payload={"x": 1})
        def write():
            ran.append(True)

        assert "deferred_write_id" in write()
        assert ran == []  # the call itself never happened

        with pytest.raises(CircuitOpenError), resilience.guard("search.query"):
            ran.append(True)
        assert ran == []
    finally:
        circuit_reset(operation="database.write", actor=triager)
        circuit_reset(operation="search.query", actor=triager)


def test_a_fallback_that_fails_behind_an_open_circuit_is_the_refusal(db, redis_url, triager):
    from resilience.circuits.services import circuit_force, circuit_reset

    @register_fallback("test.open_and_broken")
    def broken(ctx):
        raise RuntimeError("fallback exploded")

    @resilience.guard("test.open_and_broken")
    def call():
        raise AssertionError("never runs behind an open circuit")

    circuit_force(operation="test.open_and_broken", state="FORCED_OPEN", actor=triager)
    try:
        with pytest.raises(CircuitOpenError):
            call()
    finally:
        circuit_reset(operation="test.open_and_broken", actor=triager)
