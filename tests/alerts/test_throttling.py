"""alerts/throttling.py: throttle windows, silences and thresholds (pure, time passed in)."""

from datetime import UTC, datetime, timedelta

from alerts.throttling import (
    SilenceSpec,
    ThrottleState,
    silenced_by,
    threshold_reached,
    throttle_after,
    throttle_decide,
)

T0 = datetime(2025, 3, 4, 10, 40, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def test_the_first_alert_is_sent_and_opens_a_window():
    decision = throttle_decide(ThrottleState(), now=T0, window=WINDOW)
    assert decision.send and decision.previous_count == 0
    assert throttle_after(ThrottleState(), decision, occurrences=1, now=T0) == ThrottleState(
        last_alert_at=T0)


def test_inside_the_window_occurrences_are_counted_not_sent():
    state = ThrottleState(last_alert_at=T0)
    for minute, n in ((2, 5), (9, 52)):
        now = T0 + timedelta(minutes=minute)
        decision = throttle_decide(state, now=now, window=WINDOW)
        assert not decision.send
        state = throttle_after(state, decision, occurrences=n, now=now)
    assert state == ThrottleState(last_alert_at=T0, count=57,
                                  count_since=T0 + timedelta(minutes=2))


def test_the_next_alert_after_the_window_says_how_many_there_were():
    state = ThrottleState(last_alert_at=T0, count=57, count_since=T0 + timedelta(minutes=2))
    now = T0 + WINDOW
    decision = throttle_decide(state, now=now, window=WINDOW)
    assert decision.send
    assert (decision.previous_count, decision.previous_since) == (57, T0 + timedelta(minutes=2))
    assert throttle_after(state, decision, occurrences=1, now=now) == ThrottleState(
        last_alert_at=now)


def test_the_window_edge_belongs_to_the_next_window():
    state = ThrottleState(last_alert_at=T0)
    assert not throttle_decide(state, now=T0 + WINDOW - timedelta(microseconds=1),
                               window=WINDOW).send
    assert throttle_decide(state, now=T0 + WINDOW, window=WINDOW).send


def silence(**kw) -> SilenceSpec:
    return SilenceSpec(id=1, starts_at=T0, ends_at=T0 + timedelta(hours=1), **kw)


def test_a_silence_mutes_its_group_service_or_rule_while_it_lasts():
    where = dict(group_id=7, service_id=3, rule_id=2)
    inside = T0 + timedelta(minutes=30)
    assert silence(group_id=7).matches(**where, now=inside)
    assert silence(service_id=3).matches(**where, now=inside)
    assert silence(rule_id=2).matches(**where, now=inside)
    assert not silence(group_id=8).matches(**where, now=inside)
    assert not silence(group_id=7).matches(**where, now=T0 - timedelta(seconds=1))
    assert not silence(group_id=7).matches(**where, now=T0 + timedelta(hours=1))


def test_every_matcher_a_silence_sets_must_agree():
    s = silence(service_id=3, rule_id=2)
    assert s.matches(group_id=None, service_id=3, rule_id=2, now=T0)
    assert not s.matches(group_id=None, service_id=3, rule_id=1, now=T0)


def test_a_silence_naming_nothing_mutes_nothing():
    assert not silence().matches(group_id=1, service_id=1, rule_id=1, now=T0)


def test_silenced_by_returns_the_first_match():
    spec = silence(service_id=3)
    assert silenced_by([silence(group_id=9), spec], group_id=7, service_id=3, rule_id=1,
                       now=T0) is spec
    assert silenced_by([], group_id=7, service_id=3, rule_id=1, now=T0) is None


def test_n_events_in_m_minutes():
    window = timedelta(minutes=5)
    now = T0 + timedelta(minutes=5)
    assert threshold_reached(nth_newest_at=T0, window=window, now=now)
    assert not threshold_reached(nth_newest_at=T0 - timedelta(seconds=1), window=window, now=now)
    assert not threshold_reached(nth_newest_at=None, window=window, now=now)  # fewer than N
