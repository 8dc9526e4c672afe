"""Resolve in next release and mute for N events, as the digest applies them."""

import pytest

from resilience.digest.service import digest_batch
from resilience.groups.triage import error_group_mute_for_events, error_group_resolve
from resilience.models import ErrorGroup, GroupHistory
from tests.factories import ErrorLogEntryFactory

pytestmark = pytest.mark.django_db


def event(service, release=""):
    return ErrorLogEntryFactory(service=service, release=release)


def digested_group(service, release="") -> ErrorGroup:
    event(service, release)
    digest_batch(limit=100)
    return ErrorGroup.objects.get()


def test_resolved_in_next_release_stays_resolved_for_the_same_release(service, triager):
    group = digested_group(service, "1.4.2")
    error_group_resolve(group=group, actor=triager, in_next_release=True)
    group.refresh_from_db()
    assert group.resolved_in_release == "1.4.2"

    event(service, "1.4.2")
    event(service, "")  # no release: cannot be newer
    result = digest_batch(limit=100)

    group.refresh_from_db()
    assert result.regressions == []
    assert (group.status, group.times_seen) == ("RESOLVED", 3)


def test_resolved_in_next_release_reopens_on_another_release(service, triager):
    group = digested_group(service, "1.4.2")
    error_group_resolve(group=group, actor=triager, in_next_release=True)

    event(service, "1.5.0")
    result = digest_batch(limit=100)

    group.refresh_from_db()
    assert result.regressions == [group.pk]
    assert (group.status, group.regression_count) == ("OPEN", 1)
    assert group.resolved_in_release is None and group.resolved_at is None
    assert group.history.first().action == GroupHistory.Action.REGRESSED


def test_a_plain_resolve_still_reopens_on_the_same_release(service, triager):
    group = digested_group(service, "1.4.2")
    error_group_resolve(group=group, actor=triager)
    event(service, "1.4.2")
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == "OPEN"


def test_a_mute_for_n_events_lapses_after_the_nth(service, triager):
    group = digested_group(service)  # times seen: 1
    error_group_mute_for_events(group=group, actor=triager, events=2)
    group.refresh_from_db()
    assert (group.status, group.muted_until_times_seen) == ("MUTED", 3)

    event(service)
    event(service)
    digest_batch(limit=100)
    group.refresh_from_db()
    assert (group.status, group.times_seen) == ("MUTED", 3)

    event(service)
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == "OPEN"
    assert group.muted_until_times_seen is None
    assert group.history.first().action == GroupHistory.Action.UNMUTED


def test_a_batch_passing_the_mark_at_once_unmutes(service, triager):
    group = digested_group(service)
    error_group_mute_for_events(group=group, actor=triager, events=1)
    event(service)
    event(service)
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == "OPEN"
