"""Circuit breakers: the services everything else calls (ingest, the guard, the API, the
admin). One breaker per (service, operation): a service's calls and failures reach only its
own circuits, unless an operator shared one (`circuit_set_shared`), which every service then
uses for that operation. Calls that name no service are Faultline's own (the guard's:
`timer.execute`, `event.publish`, ...).

A service may make at most CIRCUIT_MAX_PER_SERVICE circuits: past that a new operation is
refused (`CircuitLimitReached`), so a flood of operation names cannot grow Redis, the table,
the lists or /metrics without bound. Idle circuits expire (services/circuit_expiry.py).

Where the live state is:

- Redis (`REDIS_URL` set and reachable): one Lua script per call (`circuit_redis`), using
  Redis's clock. The `CircuitState` row is the durable mirror: only the process whose
  script call made a transition writes it (a conditional UPDATE on the version the script
  returned) and its `CircuitTransition` rows, so each transition is recorded once however
  many processes race. When Redis has no key for a circuit (first use, a restart that
  lost its data, or a key that expired while idle) the script is called again with the
  row's state to start from; with no row either, only a call that changes something
  makes one (within the service's limit), a read answers CLOSED and leaves nothing.
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

from resilience import conf, signals
from resilience.circuits.redis_breaker import NeedsSeed, RedisCircuitStore, Seed, circuit_name
from resilience.core import circuit_machine as machine
from resilience.core.circuit_machine import Config, Live, Outcome, State
from resilience.core.strategy import CircuitView
from resilience.infra.cache_guard import cache_guard_reset, fail_open_counted
from resilience.infra.ttl_cache import MISSING, TtlCache
from resilience.models import AuditEvent, CircuitState, CircuitTransition, Service
from resilience.models.circuits import guard_service_id

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
SETTINGS_FIELDS = (
    "failure_threshold",
    "window_seconds",
    "recovery_timeout_seconds",
    "half_open_probes",
    "probe_timeout_seconds",
)
# Commands that make a circuit that does not exist yet. The others (a read, a success, a
# failure that does not count) change nothing on a circuit never used: they answer CLOSED
# and leave no row or key behind.
_CREATING = frozenset({"permit", "force_open", "force_closed", "reset"})


class CircuitLimitReached(Exception):
    """The service already has CIRCUIT_MAX_PER_SERVICE circuits: this one is not tracked."""

    def __init__(self, *, service_id: int, operation: str, limit: int) -> None:
        self.service_id, self.operation, self.limit = service_id, operation, limit
        super().__init__(
            f"this service already has {limit} circuits, the most "
            f"FAULTLINE_CIRCUIT_MAX_PER_SERVICE allows, so {operation!r} is not tracked. "
            "Use stable operation names (no ids or timestamps in them); circuits left idle "
            "expire, and an operator can raise the limit."
        )


@dataclass(frozen=True)
class CircuitRef:
    """Which circuit: the service that owns it and the operation."""

    service_id: int
    operation: str

    @property
    def name(self) -> str:
        return circuit_name(self.service_id, self.operation)

    @classmethod
    def of(cls, row: CircuitState) -> CircuitRef:
        return cls(row.service_id, row.operation)


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


# --- which circuit ----------------------------------------------------------------------

# Per process, each for CIRCUIT_SETTINGS_CACHE_SECONDS: the guard's service id, the owners
# of shared circuits ({operation: service id}), services known to be at their limit.
_guard = TtlCache()
_shared = TtlCache()
_full: dict[int, float] = {}


def _cache_seconds() -> float:
    return conf.get("CIRCUIT_SETTINGS_CACHE_SECONDS")


def _guard_id() -> int:
    if (cached := _guard.fresh("id")) is not MISSING:
        return cached
    pk = guard_service_id()
    if _cache_seconds() > 0:
        _guard.put("id", pk, ttl=_cache_seconds())
    return pk


def _shared_owners() -> dict[str, int]:
    if (cached := _shared.fresh("owners")) is not MISSING:
        return cached
    owners = dict(CircuitState.objects.filter(shared=True).values_list("operation",
                                                                       "service_id"))
    if _cache_seconds() > 0:
        _shared.put("owners", owners, ttl=_cache_seconds())
    return owners


def circuit_ref(*, operation: str, service_id: int | None = None) -> CircuitRef:
    """The circuit `service_id` uses for `operation`: the shared one if an operator shared
    one, else its own. No service: Faultline's own (the in-process guard's)."""
    owner = _shared_owners().get(operation)
    if owner is None:
        owner = _guard_id() if service_id is None else service_id
    return CircuitRef(owner, operation)


# --- settings ----------------------------------------------------------------------------

_configs = TtlCache()

# Per process: circuits ingest read OPEN or FORCED_OPEN, until CIRCUIT_OPEN_MEMO_SECONDS
# later and never past an OPEN circuit's recovery timeout. Before that timeout a failure
# changes nothing on an open circuit, nor does any failure on a forced one
# (core/circuit_machine.py), so skipping its script call loses no count: during an outage,
# when reports flood in, the breaker costs no round trip per report. What it can miss is an
# operator's change made in another process, for at most the memo's life (1 s by default;
# circuit settings wait up to 5 s).
_open_circuits = TtlCache(max_entries=10_000)


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


def circuit_config(*, ref: CircuitRef) -> Config:
    """Per-process cache: edits reach every process within CIRCUIT_SETTINGS_CACHE_SECONDS."""
    ttl = _cache_seconds()
    if (cached := _configs.fresh(ref)) is not MISSING:
        return cached
    cfg = config_of(_find(ref))
    if ttl > 0:
        _configs.put(ref, cfg, ttl=ttl)
    return cfg


def circuit_settings_changed() -> None:
    """Forget cached settings and sharing (this process): after an edit, between tests.
    Other processes see the edit within CIRCUIT_SETTINGS_CACHE_SECONDS."""
    _configs.clear()
    _shared.clear()
    _full.clear()
    _open_circuits.clear()


def _idle_ms() -> int:
    return int(conf.get("CIRCUIT_IDLE_EXPIRE_SECONDS") * 1000)


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
    for row in CircuitState.objects.order_by("id").iterator():
        if store.reseed(CircuitRef.of(row).name, config_of(row), _seed_of(row),
                        idle_ms=_idle_ms()):
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


def _find(ref: CircuitRef) -> CircuitState | None:
    return CircuitState.objects.filter(service_id=ref.service_id,
                                       operation=ref.operation).first()


def _row(ref: CircuitRef) -> CircuitState:
    """The row, made if missing and whatever the limit: the circuit already exists (a
    transition to mirror after the idle expiry took its row) or an operator acts on it."""
    row, _ = CircuitState.objects.get_or_create(service_id=ref.service_id,
                                                operation=ref.operation)
    return row


def _create(ref: CircuitRef, *, limited: bool) -> CircuitState:
    """A new circuit for a service's call, within CIRCUIT_MAX_PER_SERVICE (Faultline's own
    circuits are named in code and never limited)."""
    limit = conf.get("CIRCUIT_MAX_PER_SERVICE")
    if not limited or not limit or ref.service_id == _guard_id():
        return _row(ref)
    full_until = _full.get(ref.service_id)
    if full_until is not None and full_until > time.monotonic():
        raise CircuitLimitReached(service_id=ref.service_id, operation=ref.operation,
                                  limit=limit)
    with transaction.atomic():
        # One creator per service at a time, so first calls racing cannot pass the limit
        # together (creation is rare: once per circuit until it expires). NO KEY UPDATE:
        # it must not block the foreign-key checks of rows made without the limit.
        list(Service.objects.select_for_update(no_key=True).filter(pk=ref.service_id)
             .values_list("pk"))
        row = _find(ref)
        if row is not None:
            return row
        if CircuitState.objects.filter(service_id=ref.service_id).count() >= limit:
            if _cache_seconds() > 0:
                _full[ref.service_id] = time.monotonic() + _cache_seconds()
            raise CircuitLimitReached(service_id=ref.service_id, operation=ref.operation,
                                      limit=limit)
        return CircuitState.objects.create(service_id=ref.service_id, operation=ref.operation)


def _creates(command: str, n: int, counts: bool) -> bool:
    return command in _CREATING or (command == "failure" and counts and n > 0)


def _never_used(cfg: Config) -> Outcome:
    """What a circuit nobody has made yet says: CLOSED, nothing counted."""
    return machine.view(Live(), cfg, now_ms=int(time.time() * 1000))


def _seed_of(row: CircuitState) -> Seed:
    live = row.live_state or {}
    return Seed(
        state=row.state,
        opened_at_ms=_dt_to_ms(row.opened_at),
        version=row.version,
        failures=tuple(int(t) for t in live.get("failures", [])),
        probes=tuple((str(t), int(e)) for t, e in live.get("probes", {}).items()),
    )


def _remember_probe(ref: CircuitRef, outcome: Outcome, cfg: Config) -> None:
    """A probe Redis granted is kept on the row too (probes are few: N per half-open
    period), so a database fallback after Redis is lost counts its slot and honours its
    outcome, and a reseed carries it back: never more than N probes in flight."""
    with transaction.atomic():
        row = (CircuitState.objects.select_for_update()
               .filter(service_id=ref.service_id, operation=ref.operation,
                       version=outcome.version).first())
        if row is None:
            return  # the mirror is behind or ahead: this half-open period is not its own
        live = dict(row.live_state or {})
        probes = {t: int(e) for t, e in live.get("probes", {}).items()
                  if int(e) > outcome.now_ms}
        probes[outcome.probe_token] = outcome.now_ms + cfg.probe_timeout_ms
        live["probes"] = probes
        row.live_state = live
        row.save(update_fields=["live_state"])


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
        transaction.on_commit(partial(_alert_opened, row.operation, row.pk))


def _alert_opened(operation: str, circuit_id: int | None) -> None:
    signals.announce(signals.circuit_opened, operation=operation, circuit_id=circuit_id)


def _mirror(ref: CircuitRef, outcome: Outcome, actor, via: str) -> None:
    """Write the transitions this process's script call made (it alone saw them)."""
    with transaction.atomic():
        # Locked, so the idle expiry cannot delete it under the transitions written here.
        row = (CircuitState.objects.select_for_update()
               .filter(service_id=ref.service_id, operation=ref.operation).first()
               or _row(ref))
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


def _run_on_database(command: str, ref: CircuitRef, cfg: Config, actor, via: str, *,
                     limited: bool, **kw) -> Outcome:
    with transaction.atomic():
        row = _find(ref)
        if row is None:
            if not _creates(command, kw["n"], kw["counts"]):
                return _never_used(cfg)
            row = _create(ref, limited=limited)
        if command != "view":  # a read needs no lock; every change holds the row's
            row = (CircuitState.objects.select_for_update().filter(pk=row.pk).first()
                   or _row(ref))
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
            _open_circuits.forget(ref)
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


def _run(command: str, ref: CircuitRef, *, actor=None, via: str = "system", n: int = 1,
         token: str | None = None, counts: bool = True, limited: bool = True,
         use: bool = True, cfg: Config | None = None) -> Outcome:
    """One command on one circuit. `limited`: a service's call, within its circuit limit
    (operators' commands are not). `use`: the call keeps the circuit from expiring (an
    operator reading the list does not). `cfg`: the settings, when the caller has the row."""
    cfg = cfg or circuit_config(ref=ref)
    new_token = secrets.token_hex(8) if command == "permit" else ""
    try:
        store = _store()
        if store is not None:
            kwargs = {"n": n, "token": token, "counts": counts, "new_token": new_token,
                      "idle_ms": _idle_ms() if use else 0}
            try:
                outcome = store.call(command, ref.name, cfg, **kwargs)
            except NeedsSeed:
                row = _find(ref)
                if row is None:
                    if not _creates(command, n, counts):
                        return _never_used(cfg)
                    row = _create(ref, limited=limited)
                outcome = store.call(command, ref.name, cfg, seed=_seed_of(row), **kwargs)
            if outcome.transitions:
                _open_circuits.forget(ref)  # an operator's force or reset, seen here at once
                _mirror(ref, outcome, actor, via)
            if outcome.probe_token:
                _remember_probe(ref, outcome, cfg)
            return outcome
    except redis.RedisError as exc:
        _redis_failed(exc)
    if settings.REDIS_URL:
        fail_open_counted("circuit_state")  # Redis configured, but this call went without
    return _run_on_database(command, ref, cfg, actor, via, limited=limited, n=n, token=token,
                            counts=counts, new_token=new_token)


def _view(outcome: Outcome) -> CircuitView:
    return CircuitView(is_open=outcome.is_open, retry_after_ms=outcome.retry_after_ms)


# --- the services ------------------------------------------------------------------------
# `service_id` is the calling service (a key's, or the ingest's); None is Faultline itself.


def circuit_permit(*, operation: str, service_id: int | None = None) -> Permit:
    """May a call to `operation` go ahead? In HALF_OPEN a granted call is a probe: report
    its outcome with the returned probe_token. Raises CircuitLimitReached for a new
    operation past the service's circuit limit."""
    outcome = _run("permit", circuit_ref(operation=operation, service_id=service_id))
    return Permit(
        allowed=outcome.allowed,
        state=outcome.state.value,
        retry_after_ms=outcome.retry_after_ms,
        probe_token=outcome.probe_token,
    )


def circuit_record_success(*, operation: str, service_id: int | None = None,
                           probe_token: str | None = None) -> str:
    ref = circuit_ref(operation=operation, service_id=service_id)
    return _run("success", ref, token=probe_token).state.value


def circuit_record_failure(
    *, operation: str, service_id: int | None = None, probe_token: str | None = None,
    counts: bool = True, n: int = 1,
) -> str:
    """Record a failure. counts=False for errors that say nothing about the dependency's
    health (validation, permission, 4xx): they never count and give a probe slot back."""
    ref = circuit_ref(operation=operation, service_id=service_id)
    return _run("failure", ref, token=probe_token, counts=counts, n=n).state.value


def circuit_view(*, operation: str, service_id: int | None = None) -> CircuitView:
    return _view(_run("view", circuit_ref(operation=operation, service_id=service_id)))


def circuit_reading(*, operation: str, service_id: int | None = None,
                    failures: int = 0) -> tuple[str, CircuitView]:
    """For ingest: count `failures` (if any) and read the circuit, in one script call,
    unless this process read the circuit open within CIRCUIT_OPEN_MEMO_SECONDS."""
    ref = circuit_ref(operation=operation, service_id=service_id)
    remembered = _open_circuits.fresh(ref)
    if remembered is not MISSING:
        state, recovers_at = remembered
        retry_after_ms = (None if recovers_at is None
                          else max(0, int((recovers_at - time.monotonic()) * 1000)))
        return state, CircuitView(is_open=True, retry_after_ms=retry_after_ms)
    outcome = _run("failure", ref, n=failures) if failures else _run("view", ref)
    _remember_if_open(ref, outcome)
    return outcome.state.value, _view(outcome)


def _remember_if_open(ref: CircuitRef, outcome: Outcome) -> None:
    ttl = conf.get("CIRCUIT_OPEN_MEMO_SECONDS")
    if ttl <= 0 or outcome.state not in (State.OPEN, State.FORCED_OPEN):
        return
    recovers_at = None
    if outcome.state == State.OPEN:
        if not outcome.retry_after_ms:
            return  # its recovery timeout is up: the next failure is the probe that failed
        ttl = min(ttl, outcome.retry_after_ms / 1000)
        recovers_at = time.monotonic() + outcome.retry_after_ms / 1000
    _open_circuits.put(ref, (outcome.state.value, recovers_at), ttl=ttl)


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _operator_ref(operation: str | None, service_id: int | None,
                  circuit: CircuitState | None) -> CircuitRef:
    if circuit is not None:
        return CircuitRef.of(circuit)  # exactly this one (the admin acts on rows)
    if not operation:
        raise ValueError("name the circuit: operation (and service_id) or circuit")
    return circuit_ref(operation=operation, service_id=service_id)


def circuit_force(*, state: str, actor, operation: str | None = None,
                  service_id: int | None = None, circuit: CircuitState | None = None,
                  via: str = "admin") -> CircuitState:
    actor = _actor(actor)
    target = State(state)
    if target not in FORCE_ACTIONS:
        raise ValueError(f"state must be FORCED_OPEN or FORCED_CLOSED, not {state!r}")
    ref = _operator_ref(operation, service_id, circuit)
    command = "force_open" if target == State.FORCED_OPEN else "force_closed"
    outcome = _run(command, ref, actor=actor, via=via, limited=False)
    row = _row(ref)
    _audit(FORCE_ACTIONS[target], row, outcome, actor, via)
    return row


def circuit_reset(*, actor, operation: str | None = None, service_id: int | None = None,
                  circuit: CircuitState | None = None, via: str = "admin") -> CircuitState:
    actor = _actor(actor)
    ref = _operator_ref(operation, service_id, circuit)
    outcome = _run("reset", ref, actor=actor, via=via, limited=False)
    row = _row(ref)
    _audit("circuit.reset", row, outcome, actor, via)
    return row


class SharingRefused(ValueError):
    pass


def circuit_set_shared(*, circuit: CircuitState, shared: bool, actor,
                       via: str = "admin") -> bool:
    """Share a circuit with every service (their failures count against it, they all read
    it) or make it its service's own again. False when it already was; SharingRefused when
    another circuit for the operation is already shared."""
    actor = _actor(actor)
    with transaction.atomic():
        row = CircuitState.objects.select_for_update().get(pk=circuit.pk)
        if row.shared == shared:
            return False
        if shared and CircuitState.objects.filter(operation=row.operation,
                                                  shared=True).exists():
            raise SharingRefused(f"another circuit for {row.operation!r} is already shared")
        CircuitState.objects.filter(pk=row.pk).update(shared=shared)
        AuditEvent.objects.create(
            actor=actor, via=via, action="circuit.share" if shared else "circuit.unshare",
            target_type="circuit", target_id=row.operation[:64],
            detail={"operation": row.operation, "service": row.service.slug},
        )
    circuit_settings_changed()
    return True


def _audit(action: str, row: CircuitState, outcome: Outcome, actor, via: str) -> None:
    if not outcome.transitions:
        return  # already in that state: nothing happened, nothing to record
    AuditEvent.objects.create(
        actor=actor,
        via=via,
        action=action,
        target_type="circuit",
        target_id=row.operation[:64],
        detail={
            "operation": row.operation,
            "service": row.service.slug,
            "shared": row.shared,
            "from": outcome.transitions[0].from_state.value,
            "to": outcome.state.value,
            "backend": circuit_backend(),
        },
    )


def circuit_status(circuit: CircuitState) -> CircuitStatus:
    """The live state of one circuit for the API and the admin (one script call; a read,
    not a use: it does not keep the circuit from expiring)."""
    config = config_of(circuit)
    outcome = _run("view", CircuitRef.of(circuit), use=False, cfg=config)
    return CircuitStatus(
        circuit=circuit,
        state=outcome.state.value,
        # Closed: the failures in the window now; otherwise those that opened it.
        failure_count=(outcome.failure_count if outcome.state == State.CLOSED
                       else circuit.failure_count),
        opened_at=_ms_to_dt(outcome.opened_at_ms),
        retry_after_ms=outcome.retry_after_ms,
        is_open=outcome.is_open,
        config=config,
        backend=circuit_backend(),
    )


def probe_allowed_at(retry_after_ms: int | None) -> datetime | None:
    return None if retry_after_ms is None else timezone.now() + timedelta(
        milliseconds=retry_after_ms)


def circuit_process_reset() -> None:
    """Forget this process's cached settings and outage state (tests, after a fork)."""
    _guard.clear()
    circuit_settings_changed()
    cache_guard_reset()
    with _outage_lock:
        _outage.update(active=False, since=None, retry_at=0.0, warned_at=0.0)


def valid_operation(operation: str) -> bool:
    return len(operation) <= OPERATION_MAX_LENGTH and bool(OPERATION_RE.match(operation))

