"""The circuit services: Redis with its durable mirror, the database fallback, and the way
between them."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from resilience import conf
from resilience.circuits import services as circuits
from resilience.circuits.redis_breaker import RedisCircuitStore
from resilience.circuits.services import (
    circuit_backend,
    circuit_force,
    circuit_permit,
    circuit_record_failure,
    circuit_record_success,
    circuit_ref,
    circuit_reset,
    circuit_view,
)
from resilience.models import AuditEvent, CircuitState, CircuitTransition
from tests.resilience import circuit_workers

OP = "payment.charge"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fast(settings):
    """Small numbers so tests run quickly; per test, because the prefix is per test."""
    settings.FAULTLINE = {
        **settings.FAULTLINE,
        "CIRCUIT_FAILURE_THRESHOLD": 3,
        "CIRCUIT_RECOVERY_TIMEOUT_SECONDS": 1,
        "CIRCUIT_PROBE_TIMEOUT_SECONDS": 1,
        "CIRCUIT_SETTINGS_CACHE_SECONDS": 0,
    }


@pytest.fixture
def on_database(settings, fast, db):
    settings.REDIS_URL = ""


@pytest.fixture
def on_redis(settings, fast, db, redis_url):
    settings.REDIS_URL = redis_url
    return RedisCircuitStore(redis_url, conf.get("CIRCUIT_KEY_PREFIX"))


def transitions(operation=OP):
    return list(
        CircuitTransition.objects.filter(circuit__operation=operation)
        .order_by("at", "id").values_list("from_state", "to_state")
    )


def open_circuit(operation=OP):
    for _ in range(3):
        state = circuit_record_failure(operation=operation)
    assert state == "OPEN"


def pass_recovery(store=None):
    """Past the 1 s recovery timeout: wait on Redis's clock, or move the row back."""
    if store is None:
        row = CircuitState.objects.get(operation=OP)
        row.opened_at = row.opened_at.replace(year=row.opened_at.year - 1)
        row.save(update_fields=["opened_at"])
    else:
        time.sleep(1.05)


# --- either backend ----------------------------------------------------------------------


@pytest.fixture(params=["database", "redis"])
def backend(request):
    return request.getfixturevalue(f"on_{request.param}")


def test_threshold_failures_open_it_and_the_transition_is_recorded_once(backend):
    assert circuit_record_failure(operation=OP) == "CLOSED"
    assert circuit_view(operation=OP).is_open is False
    open_circuit()
    row = CircuitState.objects.get(operation=OP)
    assert row.state == "OPEN" and row.version == 1 and row.opened_at is not None
    assert row.failure_count >= 3
    assert transitions() == [("CLOSED", "OPEN")]
    view = circuit_view(operation=OP)
    assert view.is_open and 0 < view.retry_after_ms <= 1000
    permit = circuit_permit(operation=OP)
    assert not permit.allowed and permit.state == "OPEN" and permit.probe_token is None


def test_a_probe_success_closes_it_and_a_failure_reopens_it(backend):
    store = backend if isinstance(backend, RedisCircuitStore) else None
    open_circuit()
    pass_recovery(store)
    probe = circuit_permit(operation=OP)
    assert probe.allowed and probe.state == "HALF_OPEN" and probe.probe_token
    assert not circuit_permit(operation=OP).allowed  # one probe at a time
    assert circuit_record_failure(operation=OP, probe_token=probe.probe_token) == "OPEN"
    pass_recovery(store)
    probe = circuit_permit(operation=OP)
    assert circuit_record_success(operation=OP, probe_token=probe.probe_token) == "CLOSED"
    assert transitions() == [
        ("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED"),
    ]
    assert CircuitState.objects.get(operation=OP).version == 5


def test_errors_that_are_the_callers_fault_neither_count_nor_use_up_a_probe(backend):
    store = backend if isinstance(backend, RedisCircuitStore) else None
    for _ in range(10):
        circuit_record_failure(operation=OP, counts=False)
    assert circuit_view(operation=OP).is_open is False
    open_circuit()
    pass_recovery(store)
    probe = circuit_permit(operation=OP)
    assert circuit_record_failure(operation=OP, probe_token=probe.probe_token,
                                  counts=False) == "HALF_OPEN"
    assert circuit_permit(operation=OP).allowed


def test_the_operations_own_settings_win_over_the_defaults(backend):
    CircuitState.objects.create(operation=OP, failure_threshold=1)
    assert circuit_record_failure(operation=OP) == "OPEN"
    assert circuit_record_failure(operation="other.op") == "CLOSED"


def test_force_and_reset_are_audited_with_the_actor(backend, triager):
    circuit_force(operation=OP, state="FORCED_OPEN", actor=triager)
    assert not circuit_permit(operation=OP).allowed
    assert circuit_view(operation=OP).is_open
    assert circuit_view(operation=OP).retry_after_ms is None  # until an operator acts
    circuit_force(operation=OP, state="FORCED_CLOSED", actor=triager)
    for _ in range(10):
        assert circuit_record_failure(operation=OP) == "FORCED_CLOSED"
    row = circuit_reset(operation=OP, actor=triager, via="api")
    assert row.state == "CLOSED" and row.changed_by == triager and row.changed_via == "api"
    assert list(AuditEvent.objects.order_by("id").values_list(
        "action", "target_type", "target_id", "actor__username")) == [
        ("circuit.force_open", "circuit", OP, "triager"),
        ("circuit.force_closed", "circuit", OP, "triager"),
        ("circuit.reset", "circuit", OP, "triager"),
    ]
    assert set(CircuitTransition.objects.values_list("actor__username", flat=True)) == {
        "triager"}
    assert transitions() == [
        ("CLOSED", "FORCED_OPEN"), ("FORCED_OPEN", "FORCED_CLOSED"), ("FORCED_CLOSED", "CLOSED")
    ]


def test_forcing_the_state_it_is_already_in_records_nothing(backend, triager):
    circuit_force(operation=OP, state="FORCED_OPEN", actor=triager)
    circuit_force(operation=OP, state="FORCED_OPEN", actor=triager)
    assert AuditEvent.objects.count() == 1 and len(transitions()) == 1
    with pytest.raises(ValueError):
        circuit_force(operation=OP, state="OPEN", actor=triager)


@pytest.mark.parametrize("resets", [False, True], ids=["default", "seed_switch"])
def test_a_success_clears_the_counted_failures_only_with_the_seed_switch(
    backend, settings, resets
):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_SUCCESS_RESETS_FAILURES": resets}
    circuit_record_failure(operation=OP, n=2)
    assert circuit_record_success(operation=OP) == "CLOSED"
    status = circuits.circuit_status(CircuitState.objects.get(operation=OP))
    assert status.failure_count == (0 if resets else 2)
    # Default: the success changed nothing, so one more failure reaches the threshold (3).
    assert circuit_record_failure(operation=OP) == ("CLOSED" if resets else "OPEN")
    if resets:
        assert circuit_record_failure(operation=OP) == "CLOSED"
        assert circuit_record_failure(operation=OP) == "OPEN"
    # Either way, a success that is not the probe leaves an open circuit open.
    assert circuit_record_success(operation=OP) == "OPEN"
    assert transitions() == [("CLOSED", "OPEN")]


def test_the_seed_switch_is_read_from_the_environment():
    code = ("import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.base'; "
            "import django; django.setup(); from resilience import conf; "
            "print(conf.get('CIRCUIT_SUCCESS_RESETS_FAILURES'))")
    env = {**os.environ, "FAULTLINE_CIRCUIT_SUCCESS_RESETS_FAILURES": "true"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert run.stdout.strip() == "True", run.stderr
    env.pop("FAULTLINE_CIRCUIT_SUCCESS_RESETS_FAILURES")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert run.stdout.strip() == "False", run.stderr


# --- Redis and its mirror ----------------------------------------------------------------


def test_a_redis_that_lost_its_keys_starts_again_from_the_row(on_redis):
    open_circuit()
    on_redis.delete_all()  # as after a restart without persistence
    view = circuit_view(operation=OP)
    assert view.is_open
    assert on_redis.client.exists(on_redis.keys(circuit_ref(operation=OP).name)[0])
    assert CircuitState.objects.get(operation=OP).version == 1


def test_a_callers_clock_an_hour_ahead_does_not_let_a_probe_in_early(on_redis, monkeypatch):
    open_circuit()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    permit = circuit_permit(operation=OP)
    assert not permit.allowed and permit.state == "OPEN"


def test_it_falls_back_to_the_database_and_back_with_the_state_carried_over(
    on_redis, settings, monkeypatch, caplog, triager
):
    redis_url = settings.REDIS_URL
    monkeypatch.setattr(circuits, "REDIS_RETRY_SECONDS", 0)  # try Redis on every call
    open_circuit()  # in Redis, mirrored as OPEN v1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="resilience.circuits.lookup"):
        permit = circuit_permit(operation=OP)
        circuit_permit(operation=OP)
    assert circuit_backend() == "database"
    assert not permit.allowed and permit.state == "OPEN"  # never "always closed"
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited
    # Changes while Redis is away land on the row.
    circuit_reset(operation=OP, actor=triager)
    circuit_record_failure(operation=OP)
    circuit_record_failure(operation=OP)
    row = CircuitState.objects.get(operation=OP)
    assert row.state == "CLOSED" and row.version == 2 and len(row.live_state["failures"]) == 2
    # Redis answers again: the row is pushed back into it and Redis takes over.
    settings.REDIS_URL = redis_url
    assert circuit_view(operation=OP).is_open is False
    assert circuit_backend() == "redis"
    assert circuit_record_failure(operation=OP) == "OPEN"  # 2 carried over + 1 = threshold
    assert CircuitState.objects.get(operation=OP).version == 3
    assert transitions() == [("CLOSED", "OPEN"), ("OPEN", "CLOSED"), ("CLOSED", "OPEN")]


def test_no_redis_configured_means_the_database(on_database):
    assert circuit_backend() == "database"
    open_circuit()
    assert not circuit_permit(operation=OP).allowed


@pytest.mark.django_db(transaction=True)
def test_32_processes_failing_at_once_open_it_once(postgres, redis_url, settings):
    prefix = conf.get("CIRCUIT_KEY_PREFIX")
    CircuitState.objects.create(operation=OP, failure_threshold=5)
    states = circuit_workers.run_all(
        circuit_workers.service_failure,
        [(connection.settings_dict["NAME"], redis_url, prefix, OP)] * 32,
    )
    # Atomic: the first four saw it still closed, the fifth opened it, the rest saw it open.
    assert sorted(states) == ["CLOSED"] * 4 + ["OPEN"] * 28
    row = CircuitState.objects.get(operation=OP)
    assert row.state == "OPEN" and row.version == 1
    assert transitions() == [("CLOSED", "OPEN")]
