"""What new events do to a resolved or muted group, decided without a database."""

from datetime import UTC, datetime, timedelta

from resilience.core.group_state import MUTED, OPEN, RESOLVED, status_after_events

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
EARLIER = T0 - timedelta(minutes=5)


def resolved_in(release, by_release):
    return status_after_events(
        status=RESOLVED, resolved_at=T0, muted_until=None, now=LATER,
        newest_received_at=max(by_release.values()),
        resolved_in_release=release, newest_received_by_release=by_release,
    )


def test_a_plain_resolve_regresses_on_any_later_event():
    change = status_after_events(status=RESOLVED, resolved_at=T0, muted_until=None,
                                 newest_received_at=LATER, now=LATER)
    assert (change.status, change.event) == (OPEN, "REGRESSED")


def test_resolved_in_next_release_holds_for_events_of_the_same_release():
    change = resolved_in("1.4.2", {"1.4.2": LATER})
    assert (change.status, change.event) == (RESOLVED, None)


def test_resolved_in_next_release_regresses_on_another_release():
    change = resolved_in("1.4.2", {"1.4.2": LATER, "1.5.0": LATER})
    assert (change.status, change.event) == (OPEN, "REGRESSED")


def test_an_event_without_a_release_cannot_say_it_is_newer():
    assert resolved_in("1.4.2", {"": LATER}).status == RESOLVED


def test_with_no_release_known_at_resolution_the_first_release_reopens():
    assert resolved_in("", {"": LATER}).status == RESOLVED
    assert resolved_in("", {"2.0": LATER}).status == OPEN


def test_another_release_received_before_the_resolution_is_no_regression():
    assert resolved_in("1.4.2", {"1.5.0": EARLIER}).status == RESOLVED


def muted_for_events(*, threshold, times_seen):
    return status_after_events(
        status=MUTED, resolved_at=None, muted_until=None, newest_received_at=LATER, now=LATER,
        muted_until_times_seen=threshold, times_seen=times_seen,
    )


def test_a_mute_for_n_events_holds_until_times_seen_passes_the_mark():
    # Muted at 10 times seen for 5 more events: the mark is 15.
    assert muted_for_events(threshold=15, times_seen=12).status == MUTED
    assert muted_for_events(threshold=15, times_seen=15).status == MUTED
    change = muted_for_events(threshold=15, times_seen=16)
    assert (change.status, change.event) == (OPEN, "UNMUTED")


def test_a_mute_until_resolved_holds_whatever_arrives():
    assert muted_for_events(threshold=None, times_seen=10**9).status == MUTED


def test_a_timed_mute_still_lapses_at_its_end():
    change = status_after_events(status=MUTED, resolved_at=None, muted_until=T0,
                                 newest_received_at=LATER, now=LATER)
    assert (change.status, change.event) == (OPEN, "UNMUTED")
