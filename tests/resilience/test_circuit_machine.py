"""The circuit state machine, pure: a fake clock, no database, no Redis."""

import itertools

import pytest

from resilience.core import circuit_machine as m
from resilience.core.circuit_machine import Cause, Config, Live, State

CFG = Config(
    failure_threshold=3,
    window_ms=10_000,
    recovery_timeout_ms=5_000,
    half_open_probes=1,
    probe_timeout_ms=2_000,
)
T0 = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self, advance_ms: int = 0) -> int:
        self.now += advance_ms
        return self.now


_tokens = (f"tok{i}" for i in itertools.count())


def permit(live, clock, cfg=CFG):
    return m.permit(live, cfg, now_ms=clock(), new_token=next(_tokens))


def opened(clock, cfg=CFG) -> Live:
    live = Live()
    m.record_failure(live, cfg, now_ms=clock(), n=cfg.failure_threshold)
    assert live.state == State.OPEN
    return live


def half_open(clock, cfg=CFG) -> tuple[Live, str]:
    live = opened(clock, cfg)
    clock(cfg.recovery_timeout_ms)
    outcome = permit(live, clock, cfg)
    assert outcome.allowed and live.state == State.HALF_OPEN
    return live, outcome.probe_token


# --- the whitelist -----------------------------------------------------------------------

LEGAL_AUTOMATIC = {
    (State.CLOSED, State.OPEN, Cause.THRESHOLD),
    (State.OPEN, State.HALF_OPEN, Cause.RECOVERY_TIMEOUT),
    (State.HALF_OPEN, State.CLOSED, Cause.PROBE_SUCCESS),
    (State.HALF_OPEN, State.OPEN, Cause.PROBE_FAILURE),
}


@pytest.mark.parametrize(
    ("from_state", "to_state", "cause"), list(itertools.product(State, State, Cause))
)
def test_only_whitelisted_transitions_are_legal(from_state, to_state, cause):
    if cause == Cause.FORCE:
        expected = to_state in (State.FORCED_OPEN, State.FORCED_CLOSED) and from_state != to_state
    elif cause == Cause.RESET:
        expected = to_state == State.CLOSED
    else:
        expected = (from_state, to_state, cause) in LEGAL_AUTOMATIC
    assert m.is_legal(from_state, to_state, cause) is expected


def test_closed_never_goes_straight_to_half_open():
    assert not any(
        m.is_legal(State.CLOSED, State.HALF_OPEN, cause) for cause in Cause
    )


def test_an_illegal_step_raises():
    call = m._Call(Live(), CFG, T0)
    with pytest.raises(m.IllegalTransition):
        call.go(State.HALF_OPEN, Cause.RECOVERY_TIMEOUT)
    with pytest.raises(m.IllegalTransition):
        m.force(Live(), CFG, now_ms=T0, to=State.OPEN)


# --- CLOSED → OPEN -------------------------------------------------------------------------


def test_it_opens_when_the_threshold_is_reached_within_the_window():
    clock, live = Clock(), Live()
    for _ in range(2):
        outcome = m.record_failure(live, CFG, now_ms=clock(1000))
        assert outcome.state == State.CLOSED and not outcome.transitions
    outcome = m.record_failure(live, CFG, now_ms=clock(1000))
    assert outcome.state == State.OPEN
    assert outcome.failure_count == 3
    assert [(t.from_state, t.to_state, t.cause) for t in outcome.transitions] == [
        (State.CLOSED, State.OPEN, Cause.THRESHOLD)
    ]
    assert outcome.version == 1
    assert outcome.opened_at_ms == clock.now
    assert outcome.is_open and outcome.retry_after_ms == CFG.recovery_timeout_ms


def test_failures_that_left_the_window_do_not_count():
    clock, live = Clock(), Live()
    m.record_failure(live, CFG, now_ms=clock())
    m.record_failure(live, CFG, now_ms=clock(1))
    outcome = m.record_failure(live, CFG, now_ms=clock(CFG.window_ms))  # first two expired
    assert outcome.state == State.CLOSED
    assert outcome.failure_count == 1


def test_a_batch_of_failures_counts_each():
    live = Live()
    outcome = m.record_failure(live, CFG, now_ms=T0, n=7)
    assert outcome.state == State.OPEN and outcome.failure_count == 7


def test_failures_that_do_not_count_are_ignored():
    live = Live()
    for _ in range(10):
        outcome = m.record_failure(live, CFG, now_ms=T0, counts=False)
    assert outcome.state == State.CLOSED and outcome.failure_count == 0


def test_a_closed_circuit_permits_without_a_probe_token():
    outcome = permit(Live(), Clock())
    assert outcome.allowed and outcome.probe_token is None and not outcome.is_open


# --- OPEN → HALF_OPEN ----------------------------------------------------------------------


def test_an_open_circuit_refuses_until_the_recovery_timeout():
    clock = Clock()
    live = opened(clock)
    clock(CFG.recovery_timeout_ms - 1)
    outcome = permit(live, clock)
    assert not outcome.allowed
    assert outcome.state == State.OPEN
    assert outcome.retry_after_ms == 1


def test_the_first_permit_after_the_recovery_timeout_is_a_probe():
    clock = Clock()
    live = opened(clock)
    clock(CFG.recovery_timeout_ms)
    outcome = permit(live, clock)
    assert outcome.allowed and outcome.probe_token
    assert outcome.state == State.HALF_OPEN
    assert [t.cause for t in outcome.transitions] == [Cause.RECOVERY_TIMEOUT]


def test_looking_at_an_open_circuit_does_not_move_it():
    clock = Clock()
    live = opened(clock)
    outcome = m.view(live, CFG, now_ms=clock(CFG.recovery_timeout_ms * 3))
    assert outcome.state == State.OPEN and not outcome.transitions
    assert outcome.is_open and outcome.retry_after_ms == 0


def test_a_failure_reported_after_the_recovery_timeout_reopens_it():
    clock = Clock()
    live = opened(clock)
    early = m.record_failure(live, CFG, now_ms=clock(100))
    assert not early.transitions  # inside the timeout: nothing new to learn
    outcome = m.record_failure(live, CFG, now_ms=clock(CFG.recovery_timeout_ms))
    assert [(t.from_state, t.to_state) for t in outcome.transitions] == [
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.OPEN),
    ]
    assert outcome.opened_at_ms == clock.now
    assert outcome.retry_after_ms == CFG.recovery_timeout_ms


# --- HALF_OPEN -----------------------------------------------------------------------------


@pytest.mark.parametrize("probes", [1, 3])
def test_exactly_the_allowed_number_of_probes_pass(probes):
    cfg = Config(**{**CFG.__dict__, "half_open_probes": probes})
    clock = Clock()
    live = opened(clock, cfg)
    clock(cfg.recovery_timeout_ms)
    outcomes = [permit(live, clock, cfg) for _ in range(10)]
    assert sum(o.allowed for o in outcomes) == probes
    assert len({o.probe_token for o in outcomes if o.allowed}) == probes
    refused = outcomes[-1]
    assert refused.is_open and refused.retry_after_ms == cfg.probe_timeout_ms


def test_a_probe_success_closes_it():
    clock = Clock()
    live, token = half_open(clock)
    outcome = m.record_success(live, CFG, now_ms=clock(10), token=token)
    assert outcome.state == State.CLOSED
    assert [t.cause for t in outcome.transitions] == [Cause.PROBE_SUCCESS]
    assert permit(live, clock).allowed


def test_a_probe_failure_reopens_it():
    clock = Clock()
    live, token = half_open(clock)
    outcome = m.record_failure(live, CFG, now_ms=clock(10), token=token)
    assert outcome.state == State.OPEN
    assert outcome.retry_after_ms == CFG.recovery_timeout_ms
    assert not permit(live, clock).allowed


def test_a_non_counting_probe_failure_gives_the_slot_back():
    clock = Clock()
    live, token = half_open(clock)
    assert not permit(live, clock).allowed
    outcome = m.record_failure(live, CFG, now_ms=clock(), token=token, counts=False)
    assert outcome.state == State.HALF_OPEN and not outcome.transitions
    assert permit(live, clock).allowed


def test_reports_without_a_valid_token_do_not_move_a_half_open_circuit():
    clock = Clock()
    live, _token = half_open(clock)
    assert not m.record_success(live, CFG, now_ms=clock(), token=None).transitions
    assert not m.record_success(live, CFG, now_ms=clock(), token="forged").transitions
    assert not m.record_failure(live, CFG, now_ms=clock(), token="forged").transitions
    assert not m.record_failure(live, CFG, now_ms=clock(), n=50).transitions
    assert live.state == State.HALF_OPEN


def test_a_stuck_probe_frees_its_slot_after_the_probe_timeout():
    clock = Clock()
    live, token = half_open(clock)
    clock(CFG.probe_timeout_ms - 1)
    refused = permit(live, clock)
    assert not refused.allowed and refused.retry_after_ms == 1
    clock(1)
    again = permit(live, clock)
    assert again.allowed and again.probe_token != token
    # The late report of the expired probe changes nothing.
    assert not m.record_success(live, CFG, now_ms=clock(), token=token).transitions


# --- the operator --------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["closed", "open", "half_open"])
def test_forcing_open_refuses_everything_and_counts_nothing(start):
    clock = Clock()
    live = {"closed": Live, "open": lambda: opened(clock),
            "half_open": lambda: half_open(clock)[0]}[start]()
    outcome = m.force(live, CFG, now_ms=clock(), to=State.FORCED_OPEN)
    assert outcome.state == State.FORCED_OPEN and outcome.is_open
    assert outcome.retry_after_ms is None
    clock(10**9)
    assert not permit(live, clock).allowed
    assert not m.record_failure(live, CFG, now_ms=clock(), n=100).transitions


def test_forcing_closed_lets_everything_through():
    clock = Clock()
    live = opened(clock)
    m.force(live, CFG, now_ms=clock(), to=State.FORCED_CLOSED)
    assert all(permit(live, clock).allowed for _ in range(5))
    assert m.record_failure(live, CFG, now_ms=clock(), n=100).state == State.FORCED_CLOSED


def test_forcing_the_state_it_is_in_is_not_a_transition():
    live = Live(state=State.FORCED_OPEN)
    assert not m.force(live, CFG, now_ms=T0, to=State.FORCED_OPEN).transitions
    assert m.force(live, CFG, now_ms=T0, to=State.FORCED_CLOSED).transitions


@pytest.mark.parametrize("state", list(State))
def test_reset_closes_anything_and_clears_the_counters(state):
    live = Live(state=state, opened_at_ms=T0, failures=[T0, T0], probes={"x": T0 + 10})
    outcome = m.reset(live, CFG, now_ms=T0)
    assert outcome.state == State.CLOSED
    assert outcome.failure_count == 0 and live.probes == {} and live.opened_at_ms is None
    assert [(t.from_state, t.cause) for t in outcome.transitions] == [(state, Cause.RESET)]


def test_every_transition_bumps_the_version_once():
    clock = Clock()
    live, token = half_open(clock)  # CLOSED→OPEN, OPEN→HALF_OPEN
    m.record_success(live, CFG, now_ms=clock(), token=token)  # → CLOSED
    assert live.version == 3


# --- a success in CLOSED, and the seed's recordSuccess (success_resets_failures) ------------

SEED_CFG = Config(**{**CFG.__dict__, "success_resets_failures": True})


def test_by_default_a_success_does_not_clear_the_counted_failures():
    clock, live = Clock(), Live()
    m.record_failure(live, CFG, now_ms=clock(), n=2)
    outcome = m.record_success(live, CFG, now_ms=clock(10))
    assert outcome.state == State.CLOSED and outcome.failure_count == 2
    assert not outcome.transitions
    # A dependency failing most calls, with successes in between, still trips it.
    assert m.record_failure(live, CFG, now_ms=clock(10)).state == State.OPEN


def test_with_the_seed_switch_a_success_clears_the_counted_failures():
    clock, live = Clock(), Live()
    m.record_failure(live, SEED_CFG, now_ms=clock(), n=2)
    outcome = m.record_success(live, SEED_CFG, now_ms=clock(10))
    assert outcome.state == State.CLOSED and outcome.failure_count == 0
    assert not outcome.transitions and outcome.version == 0  # no transition, as in the seed
    assert m.record_failure(live, SEED_CFG, now_ms=clock(10), n=2).state == State.CLOSED
    assert m.record_failure(live, SEED_CFG, now_ms=clock(10)).state == State.OPEN


@pytest.mark.parametrize("cfg", [CFG, SEED_CFG], ids=["default", "seed_switch"])
def test_a_success_that_is_not_the_probe_never_closes_an_open_circuit(cfg):
    clock = Clock()
    live = opened(clock, cfg)
    assert m.record_success(live, cfg, now_ms=clock(10)).state == State.OPEN
    clock(cfg.recovery_timeout_ms)
    assert m.record_success(live, cfg, now_ms=clock()).state == State.OPEN
    probe = permit(live, clock, cfg)
    assert m.record_success(live, cfg, now_ms=clock(), token=None).state == State.HALF_OPEN
    closed = m.record_success(live, cfg, now_ms=clock(), token=probe.probe_token)
    assert closed.state == State.CLOSED


def test_the_defaults_are_one_probe_and_no_reset_on_success():
    cfg = Config()
    assert (cfg.half_open_probes, cfg.success_resets_failures) == (1, False)
