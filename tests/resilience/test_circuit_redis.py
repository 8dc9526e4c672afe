"""The Redis store (one Lua script per call) against a real Redis: it follows the pure
machine step for step, uses only Redis's clock, and shares one breaker between processes."""

import time
import uuid

import pytest

from resilience.circuits.redis_breaker import NeedsSeed, RedisCircuitStore, Seed
from resilience.core import circuit_machine as m
from resilience.core.circuit_machine import Config, Live, State
from tests.resilience import circuit_workers

CFG = Config(failure_threshold=3, window_ms=60_000, recovery_timeout_ms=300,
             half_open_probes=1, probe_timeout_ms=1_000)


@pytest.fixture
def store(redis_url):
    store = RedisCircuitStore(redis_url, f"test-{uuid.uuid4().hex[:12]}")
    yield store
    store.delete_all()


def call(store, command, cfg=CFG, operation="timer.execute", **kw):
    try:
        return store.call(command, operation, cfg, **kw)
    except NeedsSeed:
        return store.call(command, operation, cfg, seed=Seed(), **kw)


def test_it_asks_for_a_seed_when_it_has_nothing_and_starts_from_it(store):
    with pytest.raises(NeedsSeed):
        store.call("view", "timer.execute", CFG)
    seeded = store.call("view", "timer.execute", CFG,
                        seed=Seed(state="OPEN", opened_at_ms=int(time.time() * 1000),
                                  version=41))
    assert seeded.state == State.OPEN and seeded.version == 41
    # A second seed does not overwrite what is there.
    again = store.call("view", "timer.execute", CFG, seed=Seed())
    assert again.state == State.OPEN


def test_reseed_replaces_only_an_older_copy(store):
    call(store, "view")
    assert not store.reseed("timer.execute", CFG, Seed(state="FORCED_OPEN", version=0))
    assert store.reseed("timer.execute", CFG, Seed(state="FORCED_OPEN", version=7))
    outcome = call(store, "view")
    assert outcome.state == State.FORCED_OPEN and outcome.version == 7


def run_machine(live, command, now, new_token, kw, cfg=CFG):
    if command == "permit":
        return m.permit(live, cfg, now_ms=now, new_token=new_token)
    if command == "success":
        return m.record_success(live, cfg, now_ms=now, token=kw.get("token"))
    if command == "failure":
        return m.record_failure(live, cfg, now_ms=now, token=kw.get("token"),
                                counts=kw.get("counts", True), n=kw.get("n", 1))
    if command == "view":
        return m.view(live, cfg, now_ms=now)
    if command == "reset":
        return m.reset(live, cfg, now_ms=now)
    to = State.FORCED_OPEN if command == "force_open" else State.FORCED_CLOSED
    return m.force(live, cfg, now_ms=now, to=to)


def answers(outcome):
    return (outcome.state, outcome.version, outcome.allowed, outcome.probe_token,
            outcome.is_open, outcome.failure_count,
            [(t.from_state, t.to_state, t.cause) for t in outcome.transitions])


def test_it_follows_the_pure_machine(store):
    """The same scenario through Lua and through circuit_machine gives the same answers
    (times aside: Redis uses its own clock)."""
    live = Live()
    steps = [
        ("failure", {}), ("failure", {"n": 1, "counts": False}), ("permit", {}),
        ("failure", {"n": 2}), ("permit", {}), ("view", {}), ("sleep", 0.35),
        ("permit", {}), ("permit", {}), ("success", {"token": "forged"}),
        ("failure", {"token": "PROBE", "counts": False}), ("permit", {}),
        ("failure", {"token": "PROBE"}), ("sleep", 0.35), ("permit", {}),
        ("success", {"token": "PROBE"}), ("force_open", {}), ("permit", {}),
        ("force_closed", {}), ("failure", {"n": 9}), ("reset", {}), ("failure", {"n": 3}),
    ]
    token = None
    for i, (command, kw) in enumerate(steps):
        if command == "sleep":
            time.sleep(kw)
            continue
        kw = dict(kw)
        if kw.get("token") == "PROBE":
            kw["token"] = token
        new_token = f"t{i}"
        redis_out = call(store, command, new_token=new_token, **kw)
        now = redis_out.now_ms
        machine_out = run_machine(live, command, now, new_token, kw)
        assert (redis_out.state, redis_out.version, redis_out.allowed, redis_out.probe_token,
                redis_out.is_open, redis_out.failure_count,
                [(t.from_state, t.to_state, t.cause) for t in redis_out.transitions]) == (
                machine_out.state, machine_out.version, machine_out.allowed,
                machine_out.probe_token, machine_out.is_open, machine_out.failure_count,
                [(t.from_state, t.to_state, t.cause) for t in machine_out.transitions]), (
            i, command)
        if redis_out.probe_token:
            token = redis_out.probe_token
    assert live.state == State.OPEN


def test_it_uses_the_redis_clock_not_the_callers(store, monkeypatch):
    call(store, "failure", n=3)
    # This process's clock jumps an hour ahead: the circuit still refuses, because the
    # recovery timeout is measured with redis.call('TIME').
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    outcome = call(store, "permit", new_token="early")
    assert not outcome.allowed and outcome.state == State.OPEN
    assert 0 < outcome.retry_after_ms <= CFG.recovery_timeout_ms


def test_a_stuck_probe_frees_its_slot_after_the_probe_timeout(store):
    call(store, "failure", n=3)
    time.sleep(0.35)
    first = call(store, "permit", new_token="stuck")
    assert first.allowed and first.probe_token == "stuck"
    refused = call(store, "permit", new_token="second")
    assert not refused.allowed and 0 < refused.retry_after_ms <= 1000
    time.sleep(refused.retry_after_ms / 1000 + 0.05)
    freed = call(store, "permit", new_token="second")
    assert freed.allowed and freed.probe_token == "second"
    # The stuck caller reporting late changes nothing.
    assert not call(store, "success", token="stuck").transitions


@pytest.mark.parametrize("probes", [1, 3])
def test_exactly_the_allowed_probes_pass_across_32_processes(store, redis_url, probes):
    cfg = Config(**{**CFG.__dict__, "half_open_probes": probes})
    call(store, "failure", cfg, n=3)
    time.sleep(0.35)  # past the recovery timeout: the next permits race for the probes
    results = circuit_workers.run_all(
        circuit_workers.store_permit,
        [(redis_url, store.prefix, "timer.execute", cfg.__dict__)] * 32,
    )
    assert len({r["pid"] for r in results}) == 32
    granted = [r for r in results if r["allowed"]]
    assert len(granted) == probes
    assert len({r["token"] for r in granted}) == probes
    outcome = call(store, "view", cfg)
    assert outcome.state == State.HALF_OPEN and outcome.version == 2  # one OPEN→HALF_OPEN


@pytest.mark.parametrize("resets", [False, True], ids=["default", "seed_switch"])
def test_a_success_in_closed_follows_the_pure_machine_with_and_without_the_seed_switch(
    store, resets
):
    cfg = Config(**{**CFG.__dict__, "success_resets_failures": resets})
    live = Live()
    steps = [("failure", {"n": 2}), ("success", {}), ("failure", {}), ("view", {}),
             ("failure", {}), ("failure", {}), ("success", {}), ("view", {})]
    seen = []
    for i, (command, kw) in enumerate(steps):
        redis_out = call(store, command, cfg, new_token=f"t{i}", **kw)
        machine_out = run_machine(live, command, redis_out.now_ms, f"t{i}", kw, cfg)
        assert answers(redis_out) == answers(machine_out), (i, command)
        seen.append((redis_out.state, redis_out.failure_count))
    if resets:  # the seed: the success wiped two failures, so it took three more to open
        assert seen[1] == (State.CLOSED, 0) and seen[3] == (State.CLOSED, 1)
        assert seen[5][0] == State.OPEN
    else:  # the success changed nothing: the third failure opened it
        assert seen[1] == (State.CLOSED, 2) and seen[2][0] == State.OPEN
    assert seen[-1][0] == State.OPEN  # a success that is not the probe never closes it


def test_every_call_renews_the_state_keys_ttl_and_a_read_that_is_no_use_does_not(store):
    call(store, "permit", new_token="t", idle_ms=50_000)
    state_key = store.keys("timer.execute")[0]
    assert 0 < store.client.pttl(state_key) <= 50_000
    store.client.pexpire(state_key, 20_000)
    call(store, "view", idle_ms=0)  # an operator's list: not a use
    assert store.client.pttl(state_key) <= 20_000
    call(store, "failure", idle_ms=50_000)
    assert store.client.pttl(state_key) > 20_000


def test_expire_if_idle_deletes_only_circuits_unused_closed_and_not_counting(store):
    name = "timer.execute"
    assert store.expire_if_idle(name)  # nothing there: nothing in use
    call(store, "permit", new_token="t", idle_ms=50_000)
    assert not store.expire_if_idle(name)  # its TTL says it was used lately
    assert store.client.exists(store.keys(name)[0])
    store.client.persist(store.keys(name)[0])  # written before expiry was configured
    call(store, "failure", idle_ms=0)
    assert not store.expire_if_idle(name)  # a failure still in the window
    call(store, "failure", n=2, idle_ms=0)  # threshold 3: OPEN
    store.client.delete(store.keys(name)[1])
    assert not store.expire_if_idle(name)  # not CLOSED
    call(store, "reset", idle_ms=0)
    assert store.expire_if_idle(name)
    assert not any(store.client.exists(key) for key in store.keys(name))
