"""The circuit breaker as a state machine (pure: standard library only, time passed in).

This module is the specification. The Redis backend (`circuit_redis.LUA`) runs the same
rules inside one Lua script per call; the database fallback runs these functions on the
`CircuitState` row under a row lock. Both are tested against the same scenarios.

Transitions are a whitelist of (from, to, cause) triples, as in resilience4j's
CircuitBreakerStateMachine: CLOSED never goes straight to HALF_OPEN, and only an operator
moves a circuit into or out of the FORCED_* states.

Semantics, in short:

- CLOSED: calls pass. Failures that count are kept with their time; `failure_threshold`
  of them within `window_ms` open the circuit (the list is cleared when it opens). A
  success changes nothing: failures age out of the window instead, so a dependency failing
  most calls still trips it. With `success_resets_failures` (the seed's recordSuccess) a
  success clears the failures counted so far.
- OPEN: calls are refused until `recovery_timeout_ms` after it opened. The first permit
  request after that moves it to HALF_OPEN. A counted failure reported (without a probe
  token) after the recovery timeout is treated as a failed probe: the dependency is still
  down, so the circuit re-opens with a fresh timeout (two transitions, both legal).
- HALF_OPEN: up to `half_open_probes` callers get a probe token, each reserved until
  `probe_timeout_ms` from when it was handed out; a reservation whose caller never reports
  back expires and frees its slot. The first probe success closes the circuit, a counted
  probe failure re-opens it, a non-counting failure (the caller's own fault) gives the
  slot back. Reports without a valid token do not change a half-open circuit.
- FORCED_OPEN refuses everything, FORCED_CLOSED lets everything through; neither counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class State(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    FORCED_OPEN = "FORCED_OPEN"
    FORCED_CLOSED = "FORCED_CLOSED"


class Cause(StrEnum):
    THRESHOLD = "threshold"
    RECOVERY_TIMEOUT = "recovery_timeout"
    PROBE_SUCCESS = "probe_success"
    PROBE_FAILURE = "probe_failure"
    FORCE = "force"
    RESET = "reset"


LEGAL: frozenset[tuple[State, State, Cause]] = frozenset(
    {
        (State.CLOSED, State.OPEN, Cause.THRESHOLD),
        (State.OPEN, State.HALF_OPEN, Cause.RECOVERY_TIMEOUT),
        (State.HALF_OPEN, State.CLOSED, Cause.PROBE_SUCCESS),
        (State.HALF_OPEN, State.OPEN, Cause.PROBE_FAILURE),
        *((s, State.FORCED_OPEN, Cause.FORCE) for s in State if s != State.FORCED_OPEN),
        *((s, State.FORCED_CLOSED, Cause.FORCE) for s in State if s != State.FORCED_CLOSED),
        # An operator's reset clears counters and probes, whatever the state.
        *((s, State.CLOSED, Cause.RESET) for s in State),
    }
)

# Human-readable reasons, stored on CircuitTransition.reason.
REASONS = {
    Cause.THRESHOLD: "failure threshold reached within the window",
    Cause.RECOVERY_TIMEOUT: "recovery timeout elapsed",
    Cause.PROBE_SUCCESS: "probe succeeded",
    Cause.PROBE_FAILURE: "probe failed",
    Cause.FORCE: "forced by an operator",
    Cause.RESET: "reset by an operator",
}
OPEN_STATES = frozenset({State.OPEN, State.FORCED_OPEN})


class IllegalTransition(ValueError):
    pass


def is_legal(from_state: str, to_state: str, cause: str) -> bool:
    return (State(from_state), State(to_state), Cause(cause)) in LEGAL


@dataclass(frozen=True)
class Config:
    failure_threshold: int = 5
    window_ms: int = 60_000
    recovery_timeout_ms: int = 30_000
    half_open_probes: int = 1
    probe_timeout_ms: int = 10_000
    # The seed's recordSuccess: a success in CLOSED clears the counted failures.
    success_resets_failures: bool = False


@dataclass
class Live:
    """Everything the breaker keeps for one operation (times in ms since the epoch)."""

    state: State = State.CLOSED
    opened_at_ms: int | None = None
    version: int = 0
    failures: list[int] = field(default_factory=list)
    probes: dict[str, int] = field(default_factory=dict)  # token → reservation expiry

    def to_json(self) -> dict:
        return {"failures": list(self.failures), "probes": dict(self.probes)}


@dataclass(frozen=True)
class Transition:
    from_state: State
    to_state: State
    cause: Cause
    version: int
    at_ms: int


@dataclass(frozen=True)
class Outcome:
    """The answer to one call: the state after it and what the caller may do."""

    state: State
    version: int
    allowed: bool
    retry_after_ms: int | None  # until a probe is allowed; None = no known time
    probe_token: str | None
    is_open: bool
    failure_count: int
    opened_at_ms: int | None
    now_ms: int
    transitions: tuple[Transition, ...] = ()


class _Call:
    """One call against a Live: collects transitions, then builds the Outcome."""

    def __init__(self, live: Live, cfg: Config, now_ms: int) -> None:
        self.live, self.cfg, self.now = live, cfg, now_ms
        self.transitions: list[Transition] = []
        # Housekeeping first, as the Lua script does: drop expired probe reservations
        # and failures that left the window.
        live.probes = {t: exp for t, exp in live.probes.items() if exp > now_ms}
        live.failures = [t for t in live.failures if t > now_ms - cfg.window_ms]

    def go(self, to: State, cause: Cause) -> None:
        live = self.live
        if (live.state, to, cause) not in LEGAL:
            raise IllegalTransition(f"{live.state} → {to} ({cause}) is not a legal transition")
        live.version += 1
        self.transitions.append(Transition(live.state, to, cause, live.version, self.now))
        live.state = to
        if to in (State.OPEN, State.FORCED_OPEN):
            live.opened_at_ms = self.now
        elif to != State.HALF_OPEN:
            live.opened_at_ms = None
        if to != State.HALF_OPEN:
            live.probes = {}
        live.failures = []

    def result(self, allowed: bool = False, token: str | None = None) -> Outcome:
        live, cfg, now = self.live, self.cfg, self.now
        retry_after: int | None = None
        is_open = False
        if live.state == State.OPEN:
            is_open = True
            retry_after = max(0, (live.opened_at_ms or now) + cfg.recovery_timeout_ms - now)
        elif live.state == State.FORCED_OPEN:
            is_open = True
        elif live.state == State.HALF_OPEN:
            if len(live.probes) >= cfg.half_open_probes:
                is_open = True
                retry_after = max(0, min(live.probes.values(), default=now) - now)
            else:
                retry_after = 0
        return Outcome(
            state=live.state,
            version=live.version,
            allowed=allowed,
            retry_after_ms=None if allowed else retry_after,
            probe_token=token,
            is_open=is_open,
            failure_count=len(live.failures),
            opened_at_ms=live.opened_at_ms,
            now_ms=now,
            transitions=tuple(self.transitions),
        )


def permit(live: Live, cfg: Config, *, now_ms: int, new_token: str) -> Outcome:
    """May a call go ahead? In HALF_OPEN, a granted call carries `new_token` as its probe."""
    call = _Call(live, cfg, now_ms)
    if live.state in (State.CLOSED, State.FORCED_CLOSED):
        return call.result(allowed=True)
    if live.state == State.FORCED_OPEN:
        return call.result()
    if live.state == State.OPEN:
        if now_ms < (live.opened_at_ms or 0) + cfg.recovery_timeout_ms:
            return call.result()
        call.go(State.HALF_OPEN, Cause.RECOVERY_TIMEOUT)
    # HALF_OPEN
    if len(live.probes) < cfg.half_open_probes:
        live.probes[new_token] = now_ms + cfg.probe_timeout_ms
        return call.result(allowed=True, token=new_token)
    return call.result()


def record_success(live: Live, cfg: Config, *, now_ms: int, token: str | None = None) -> Outcome:
    call = _Call(live, cfg, now_ms)
    if live.state == State.HALF_OPEN and token and token in live.probes:
        call.go(State.CLOSED, Cause.PROBE_SUCCESS)
    elif live.state == State.CLOSED and cfg.success_resets_failures:
        # Only in CLOSED. Closing an open circuit on a success that is not its probe (a
        # call begun before it opened, or one that never asked) would skip the recovery
        # timeout and the single probe for every process sharing the breaker.
        live.failures = []
    return call.result()


def record_failure(
    live: Live,
    cfg: Config,
    *,
    now_ms: int,
    token: str | None = None,
    counts: bool = True,
    n: int = 1,
) -> Outcome:
    """Record `n` failures (n > 1 only for batched reports without a token)."""
    call = _Call(live, cfg, now_ms)
    if live.state == State.HALF_OPEN and token and token in live.probes:
        if counts:
            call.go(State.OPEN, Cause.PROBE_FAILURE)
        else:
            del live.probes[token]  # the caller's own fault: the slot goes back
        return call.result()
    if not counts or n <= 0:
        return call.result()
    if live.state == State.CLOSED:
        live.failures.extend([now_ms] * n)
        if len(live.failures) >= cfg.failure_threshold:
            count = len(live.failures)
            call.go(State.OPEN, Cause.THRESHOLD)
            # The count that tripped it is what an operator wants to see.
            outcome = call.result()
            return replace(outcome, failure_count=count)
    elif (
        live.state == State.OPEN
        and now_ms >= (live.opened_at_ms or 0) + cfg.recovery_timeout_ms
    ):
        # Still failing after the recovery timeout: that was the probe, and it failed.
        call.go(State.HALF_OPEN, Cause.RECOVERY_TIMEOUT)
        call.go(State.OPEN, Cause.PROBE_FAILURE)
    return call.result()


def view(live: Live, cfg: Config, *, now_ms: int) -> Outcome:
    return _Call(live, cfg, now_ms).result()


def force(live: Live, cfg: Config, *, now_ms: int, to: State) -> Outcome:
    if to not in (State.FORCED_OPEN, State.FORCED_CLOSED):
        raise IllegalTransition(f"an operator forces FORCED_OPEN or FORCED_CLOSED, not {to}")
    call = _Call(live, cfg, now_ms)
    if live.state != to:
        call.go(to, Cause.FORCE)
    return call.result()


def reset(live: Live, cfg: Config, *, now_ms: int) -> Outcome:
    call = _Call(live, cfg, now_ms)
    call.go(State.CLOSED, Cause.RESET)
    return call.result()
