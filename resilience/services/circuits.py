"""Shared circuit breakers: the services everything else calls (ingest, the guard, the API,
the admin). One breaker per operation name.

Where the live state is:

- Redis (`REDIS_URL` set and reachable): one Lua script per call (`circuit_redis`), using
  Redis's clock. The `CircuitState` row is the durable mirror: only the process whose
  script call made a transition writes it (a conditional UPDATE on the version the script
  returned) and its `CircuitTransition` rows, so each transition is recorded once however
  many processes race. When Redis has no key for an operation (first use, or a restart
  that lost its data) the script is called again with the row's state to start from.
- The database (no Redis configured, or Redis unreachable): the same machine
  (`circuit_machine`) runs on the row under `select_for_update`, with the database clock.
  An outage is logged (a warning at most once a minute) and shown by `circuit_backend()`
  on /readyz and in the admin. Redis is tried again every REDIS_RETRY_SECONDS; when it
  answers, every row is pushed back into Redis where it is newer than Redis's copy.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from resilience import circuit_machine as machine
from resilience import conf
from resilience.circuit_machine import Config, Live, Outcome, State
from resilience.circuit_redis import NeedsSeed, RedisCircuitStore, Seed
from resilience.models import AuditEvent, CircuitState, CircuitTransition
from resilience.strategy import CircuitView

logger = logging.getLogger("resilience.circuits")

OPERATION_PATTERN = r"[A-Za-z0-9._:-]+"
OPERATION_RE = re.compile(rf"^{OPERATION_PATTERN}$")
OPERATION_MAX_LENGTH = 200
REDIS_RETRY_SECONDS = 1.0
OUTAGE_WARNING_EVERY_SECONDS = 60.0
FORCE_ACTIONS = {
    State.FORCED_OPEN: "circuit.force_open",
    State.FORCED_CLOSED: "circuit.force_closed",
}


@dataclass(frozen=True)
class Permit:
    allowed: bool
    state: str
    retry_after_ms: int | None
    probe_token: str | None


@dataclass(frozen=True)
class CircuitStatus:
    """A circuit as operators see it: the row, with the live state and settings in effect."""

    circuit: CircuitState
    state: str
    failure_count: int
    opened_at: datetime | None
    retry_after_ms: int | None
    is_open: bool
    config: Config
    backend: str


# --- settings ----------------------------------------------------------------------------

_configs: dict[str, tuple[float, Config]] = {}


def default_config() -> Config:
    return Config(
        failure_threshold=conf.get("CIRCUIT_FAILURE_THRESHOLD"),
        window_ms=conf.get("CIRCUIT_WINDOW_SECONDS") * 1000,
        recovery_timeout_ms=conf.get("CIRCUIT_RECOVERY_TIMEOUT_SECONDS") * 1000,
        half_open_probes=conf.get("CIRCUIT_HALF_OPEN_PROBES"),
        probe_timeout_ms=conf.get("CIRCUIT_PROBE_TIMEOUT_SECONDS") * 1000,
        success_resets_failures=conf.get("CIRCUIT_SUCCESS_RESETS_FAILURES"),
    )


def config_of(row: CircuitState | None) -> Config:
    """The settings in effect for a circuit: its own where set, else the defaults."""
    base = default_config()
    if row is None:
        return base

    def pick(value, default):
        return default if value is None else value

    return Config(
        failure_threshold=pick(row.failure_threshold, base.failure_threshold),
        window_ms=pick(row.window_seconds and row.window_seconds * 1000, base.window_ms),
        recovery_timeout_ms=pick(
            None if row.recovery_timeout_seconds is None else row.recovery_timeout_seconds * 1000,
            base.recovery_timeout_ms,
        ),
        half_open_probes=pick(row.half_open_probes, base.half_open_probes),
        probe_timeout_ms=pick(row.probe_timeout_seconds and row.probe_timeout_seconds * 1000,
                              base.probe_timeout_ms),
        success_resets_failures=base.success_resets_failures,  # installation-wide only
    )


def circuit_config(*, operation: str) -> Config:
    """Per-process cache: edits reach every process within CIRCUIT_SETTINGS_CACHE_SECONDS."""
    ttl = conf.get("CIRCUIT_SETTINGS_CACHE_SECONDS")
    cached = _configs.get(operation)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    row = CircuitState.objects.filter(operation=operation).first()
    cfg = config_of(row)
    if ttl > 0:
        _configs[operation] = (now + ttl, cfg)
    return cfg


def circuit_settings_changed(*, operation: str | None = None) -> None:
    """Forget cached settings (this process): after an edit, and between tests."""
    if operation is None:
        _configs.clear()
    else:
        _configs.pop(operation, None)


# --- which backend -----------------------------------------------------------------------

_outage_lock = threading.Lock()
# Per process. While active, calls go to the database and Redis is tried again every
# REDIS_RETRY_SECONDS (a refused connection costs little; a silent one SOCKET_TIMEOUT).
_outage: dict = {"active": False, "since": None, "retry_at": 0.0, "warned_at": 0.0}
_stores: dict[tuple[str, str], RedisCircuitStore] = {}


def circuit_backend() -> str:
    """'redis' or 'database': where this process keeps the live circuit state right now."""
    if not settings.REDIS_URL or _outage["active"]:
        return "database"
    return "redis"


def circuit_outage_since() -> datetime | None:
    """When this process lost Redis, while it is lost."""
    since = _outage["since"] if _outage["active"] else None
    return datetime.fromtimestamp(since, UTC) if since else None


def _store() -> RedisCircuitStore | None:
    """The Redis store, or None while the database is in charge."""
    url = settings.REDIS_URL
    if not url:
        return None
    if _outage["active"] and time.monotonic() < _outage["retry_at"]:
        return None
    prefix = conf.get("CIRCUIT_KEY_PREFIX")
    store = _stores.get((url, prefix))
    if store is None:
        store = _stores[(url, prefix)] = RedisCircuitStore(url, prefix)
    if _outage["active"]:
        _recover(store)  # raises RedisError if it is still down
    return store


def _redis_failed(exc: Exception) -> None:
    with _outage_lock:
        now = time.monotonic()
        if not _outage["active"]:
            _outage.update(active=True, since=time.time())
        _outage["retry_at"] = now + REDIS_RETRY_SECONDS
        if now - _outage["warned_at"] >= OUTAGE_WARNING_EVERY_SECONDS:
            _outage["warned_at"] = now
            logger.warning(
                "circuit breakers: Redis unreachable (%s); running on the database rows "
                "until it answers again", exc,
            )


def _recover(store: RedisCircuitStore) -> None:
    """Redis answers again: push rows changed during the outage into it, then use it."""
    reseeded = 0
    for row in CircuitState.objects.all().iterator():
        if store.reseed(row.operation, config_of(row), _seed_of(row)):
            reseeded += 1
    with _outage_lock:
        _outage.update(active=False, since=None, retry_at=0.0)
    logger.warning("circuit breakers: Redis is back; %d circuit(s) reseeded from the database",
                   reseeded)


# --- the mirror --------------------------------------------------------------------------


def _ms_to_dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _dt_to_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _row(operation: str) -> CircuitState:
    row, _ = CircuitState.objects.get_or_create(operation=operation)
    return row


def _seed_of(row: CircuitState) -> Seed:
    return Seed(
        state=row.state,
        opened_at_ms=_dt_to_ms(row.opened_at),
        version=row.version,
        failures=tuple(int(t) for t in (row.live_state or {}).get("failures", [])),
    )


def _transition_rows(row: CircuitState, outcome: Outcome, actor, via: str):
    return [
        CircuitTransition(
            circuit=row,
            from_state=t.from_state,
            to_state=t.to_state,
            at=_ms_to_dt(t.at_ms),
            actor=actor,
            via=via,
            reason=machine.REASONS[t.cause],
        )
        for t in outcome.transitions
    ]


def _record_transitions(row: CircuitState, outcome: Outcome, actor, via: str) -> None:
    """The one place transitions are written (Redis mirror and database fallback alike);
    an opening also queues an alert once the transaction commits."""
    CircuitTransition.objects.bulk_create(_transition_rows(row, outcome, actor, via))
    if any(t.to_state == State.OPEN for t in outcome.transitions):
        transaction.on_commit(partial(_alert_opened, row.operation))


def _alert_opened(operation: str) -> None:
    from alerts.hooks import circuit_opened  # alerts builds on resilience, not the reverse

    circuit_opened(operation)


def _mirror(operation: str, outcome: Outcome, actor, via: str) -> None:
    """Write the transitions this process's script call made (it alone saw them)."""
    with transaction.atomic():
        row = _row(operation)
        CircuitState.objects.filter(pk=row.pk, version__lt=outcome.version).update(
            state=outcome.state,
            failure_count=outcome.failure_count,
            opened_at=_ms_to_dt(outcome.opened_at_ms),
            changed_at=_ms_to_dt(outcome.now_ms),
            changed_by=actor,
            changed_via=via,
            version=outcome.version,
            live_state={},
        )
        _record_transitions(row, outcome, actor, via)


# --- running a command -------------------------------------------------------------------


def _db_now_ms() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return _dt_to_ms(cursor.fetchone()[0])
    return _dt_to_ms(timezone.now())


_MACHINE = {
    "permit": lambda live, cfg, now, kw: machine.permit(
        live, cfg, now_ms=now, new_token=kw["new_token"]),
    "success": lambda live, cfg, now, kw: machine.record_success(
        live, cfg, now_ms=now, token=kw["token"]),
    "failure": lambda live, cfg, now, kw: machine.record_failure(
        live, cfg, now_ms=now, token=kw["token"], counts=kw["counts"], n=kw["n"]),
    "view": lambda live, cfg, now, kw: machine.view(live, cfg, now_ms=now),
    "force_open": lambda live, cfg, now, kw: machine.force(
        live, cfg, now_ms=now, to=State.FORCED_OPEN),
    "force_closed": lambda live, cfg, now, kw: machine.force(
        live, cfg, now_ms=now, to=State.FORCED_CLOSED),
    "reset": lambda live, cfg, now, kw: machine.reset(live, cfg, now_ms=now),
}


def _run_on_database(command: str, operation: str, cfg: Config, actor, via: str,
                     **kw) -> Outcome:
    with transaction.atomic():
        row = _row(operation)
        if command != "view":  # a read needs no lock; every change holds the row's
            row = CircuitState.objects.select_for_update().get(pk=row.pk)
        live_json = row.live_state or {}
        live = Live(
            state=State(row.state),
            opened_at_ms=_dt_to_ms(row.opened_at),
            version=row.version,
            failures=[int(t) for t in live_json.get("failures", [])],
            probes={str(k): int(v) for k, v in live_json.get("probes", {}).items()},
        )
        before = live.to_json()
        outcome = _MACHINE[command](live, cfg, _db_now_ms(), kw)
        if outcome.transitions:
            row.state = outcome.state
            row.version = outcome.version
            row.failure_count = outcome.failure_count
            row.opened_at = _ms_to_dt(outcome.opened_at_ms)
            row.changed_at = _ms_to_dt(outcome.now_ms)
            row.changed_by = actor
            row.changed_via = via
            row.live_state = live.to_json()
            row.save()
            _record_transitions(row, outcome, actor, via)
        elif live.to_json() != before and command != "view":
            row.live_state = live.to_json()
            row.failure_count = outcome.failure_count
            row.save(update_fields=["live_state", "failure_count"])
    return outcome


def _run(command: str, operation: str, *, actor=None, via: str = "system", n: int = 1,
         token: str | None = None, counts: bool = True) -> Outcome:
    cfg = circuit_config(operation=operation)
    new_token = secrets.token_hex(8) if command == "permit" else ""
    try:
        store = _store()
        if store is not None:
            kwargs = {"n": n, "token": token, "counts": counts, "new_token": new_token}
            try:
                outcome = store.call(command, operation, cfg, **kwargs)
            except NeedsSeed:
                outcome = store.call(command, operation, cfg, seed=_seed_of(_row(operation)),
                                     **kwargs)
            if outcome.transitions:
                _mirror(operation, outcome, actor, via)
            return outcome
    except redis.RedisError as exc:
        _redis_failed(exc)
    return _run_on_database(command, operation, cfg, actor, via, n=n, token=token,
                            counts=counts, new_token=new_token)


def _view(outcome: Outcome) -> CircuitView:
    return CircuitView(is_open=outcome.is_open, retry_after_ms=outcome.retry_after_ms)


# --- the services ------------------------------------------------------------------------


def circuit_permit(*, operation: str) -> Permit:
    """May a call to `operation` go ahead? In HALF_OPEN a granted call is a probe: report
    its outcome with the returned probe_token."""
    outcome = _run("permit", operation)
    return Permit(
        allowed=outcome.allowed,
        state=outcome.state.value,
        retry_after_ms=outcome.retry_after_ms,
        probe_token=outcome.probe_token,
    )


def circuit_record_success(*, operation: str, probe_token: str | None = None) -> str:
    return _run("success", operation, token=probe_token).state.value


def circuit_record_failure(
    *, operation: str, probe_token: str | None = None, counts: bool = True, n: int = 1
) -> str:
    """Record a failure. counts=False for errors that say nothing about the dependency's
    health (validation, permission, 4xx): they never count and give a probe slot back."""
    return _run("failure", operation, token=probe_token, counts=counts, n=n).state.value


def circuit_view(*, operation: str) -> CircuitView:
    return _view(_run("view", operation))


def circuit_reading(*, operation: str, failures: int = 0) -> tuple[str, CircuitView]:
    """For ingest: count `failures` (if any) and read the circuit, in one script call."""
    outcome = _run("failure", operation, n=failures) if failures else _run("view", operation)
    return outcome.state.value, _view(outcome)


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def circuit_force(*, operation: str, state: str, actor, via: str = "admin") -> CircuitState:
    actor = _actor(actor)
    target = State(state)
    if target not in FORCE_ACTIONS:
        raise ValueError(f"state must be FORCED_OPEN or FORCED_CLOSED, not {state!r}")
    command = "force_open" if target == State.FORCED_OPEN else "force_closed"
    outcome = _run(command, operation, actor=actor, via=via)
    _audit(FORCE_ACTIONS[target], operation, outcome, actor, via)
    return CircuitState.objects.get(operation=operation)


def circuit_reset(*, operation: str, actor, via: str = "admin") -> CircuitState:
    actor = _actor(actor)
    outcome = _run("reset", operation, actor=actor, via=via)
    _audit("circuit.reset", operation, outcome, actor, via)
    return CircuitState.objects.get(operation=operation)


def _audit(action: str, operation: str, outcome: Outcome, actor, via: str) -> None:
    if not outcome.transitions:
        return  # already in that state: nothing happened, nothing to record
    AuditEvent.objects.create(
        actor=actor,
        via=via,
        action=action,
        target_type="circuit",
        target_id=operation[:64],
        detail={
            "operation": operation,
            "from": outcome.transitions[0].from_state.value,
            "to": outcome.state.value,
            "backend": circuit_backend(),
        },
    )


def circuit_status(circuit: CircuitState) -> CircuitStatus:
    """The live state of one circuit for the API and the admin (one script call)."""
    outcome = _run("view", circuit.operation)
    return CircuitStatus(
        circuit=circuit,
        state=outcome.state.value,
        # Closed: the failures in the window now; otherwise those that opened it.
        failure_count=(outcome.failure_count if outcome.state == State.CLOSED
                       else circuit.failure_count),
        opened_at=_ms_to_dt(outcome.opened_at_ms),
        retry_after_ms=outcome.retry_after_ms,
        is_open=outcome.is_open,
        config=config_of(circuit),
        backend=circuit_backend(),
    )


def probe_allowed_at(retry_after_ms: int | None) -> datetime | None:
    return None if retry_after_ms is None else timezone.now() + timedelta(
        milliseconds=retry_after_ms)


def circuit_process_reset() -> None:
    """Forget this process's cached settings and outage state (tests, after a fork)."""
    _configs.clear()
    with _outage_lock:
        _outage.update(active=False, since=None, retry_at=0.0, warned_at=0.0)


def valid_operation(operation: str) -> bool:
    return len(operation) <= OPERATION_MAX_LENGTH and bool(OPERATION_RE.match(operation))
