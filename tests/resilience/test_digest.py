"""The digest: groups formed, counts right, regressions reopen, metrics match entries."""

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from resilience.digest.entries import entries_load
from resilience.digest.service import digest_batch
from resilience.groups.triage import error_group_mute, error_group_resolve
from resilience.models import ErrorGroup, ErrorLogEntry, ErrorMetric, GroupHistory
from tests.factories import ErrorLogEntryFactory

URL = "/api/v1/errors/"

PY_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/orders/views.py", line {line}, in create_order\n'
    "    charge(order)\n"
    '  File "/srv/app/payments/client.py", line 88, in charge\n'
    "    raise ConnectionError('refused')\n"
    "ConnectionError: refused\n"
)


def report(client, body):
    response = client.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_same_failure_forms_one_group_with_its_count(service_client, service):
    for line in (10, 11, 12):  # a one-line edit must not split the group
        report(service_client, {"name": "ConnectionError", "message": "refused",
                                "stack_trace": PY_TRACE.format(line=line)})
    report(service_client, {"code": "ETIMEDOUT", "operation": "event.publish",
                            "message": "timed out after 5000ms"})
    result = digest_batch(limit=100)
    assert result.entries == 4
    assert result.groups_created == 2
    group = ErrorGroup.objects.get(name="ConnectionError")
    assert group.times_seen == 3
    assert group.service == service
    assert group.title == "ConnectionError: refused"
    assert "payments" in group.culprit
    assert ErrorLogEntry.objects.filter(group=group).count() == 3
    assert not ErrorLogEntry.objects.filter(digested_at=None).exists()


def test_traces_sharing_lines_in_one_batch_group_by_their_own_frames(service_client):
    # A batch reads each distinct trace line once (parse_stack_trace's memo): entries that
    # share lines still group by all of their own frames, whatever came first.
    cancel = PY_TRACE.replace("create_order", "cancel_order")
    for trace, order in ((PY_TRACE, 1), (cancel, 2), (PY_TRACE, 3), (cancel, 4)):
        report(service_client, {"name": "ConnectionError", "message": f"refused order {order}",
                                "stack_trace": trace.format(line=10 + order)
                                + f"ConnectionError: refused order {order}\n"})
    assert digest_batch(limit=100).groups_created == 2
    assert sorted(ErrorGroup.objects.values_list("times_seen", flat=True)) == [2, 2]
    by_frames = {entry.group_id for entry in ErrorLogEntry.objects.all()
                 if "cancel_order" in entry.stack_trace}
    assert len(by_frames) == 1
    assert by_frames.isdisjoint({entry.group_id for entry in ErrorLogEntry.objects.all()
                                 if "cancel_order" not in entry.stack_trace})


def test_messages_differing_only_in_ids_group_together(service_client):
    for n in (17, 4242):
        report(service_client, {"code": "E_NOTFOUND_USER", "operation": "user.load",
                                "message": f"user {n} not found"})
    digest_batch(limit=100)
    assert ErrorGroup.objects.get().times_seen == 2


def test_a_custom_fingerprint_overrides_grouping(service_client):
    report(service_client, {"code": "A", "message": "one", "fingerprint": ["billing"]})
    report(service_client, {"code": "B", "message": "two", "fingerprint": ["billing"]})
    digest_batch(limit=100)
    assert ErrorGroup.objects.count() == 1


def test_counts_accumulate_across_batches_and_severity_rises(service_client):
    report(service_client, {"code": "X1", "operation": "op"})  # unknown: MEDIUM
    digest_batch(limit=100)
    ErrorLogEntry.objects.update(severity="MEDIUM")
    report(service_client, {"code": "X1", "operation": "op"})
    ErrorLogEntry.objects.filter(digested_at=None).update(severity="CRITICAL")
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    assert group.times_seen == 2
    assert group.severity == "CRITICAL"


def test_an_event_after_resolution_reopens_the_group_as_a_regression(service_client, triager):
    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    error_group_resolve(group=group, actor=triager)

    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    result = digest_batch(limit=100)

    group.refresh_from_db()
    assert result.regressions == [group.pk]
    assert group.status == "OPEN"
    assert group.regression_count == 1
    assert group.resolved_at is None
    actions = list(GroupHistory.objects.filter(group=group).values_list("action", flat=True))
    assert actions == ["REGRESSED", "RESOLVED"]


def test_an_event_received_before_resolution_is_no_regression(service_client, triager):
    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    report(service_client, {"code": "ECONNRESET", "operation": "op"})  # not digested yet
    error_group_resolve(group=group, actor=triager, now=timezone.now() + timedelta(seconds=1))
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == "RESOLVED"


def test_a_muted_group_stays_muted_until_its_mute_ends(service_client, triager):
    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    error_group_mute(group=group, actor=triager, duration="1h")
    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == "MUTED"

    report(service_client, {"code": "ECONNRESET", "operation": "op"})
    digest_batch(limit=100, now=timezone.now() + timedelta(hours=2))
    group.refresh_from_db()
    assert group.status == "OPEN"
    assert group.muted_until is None


def test_metric_buckets_match_the_entries(service_client):
    now = timezone.now()
    bodies = []
    for hours_ago in range(6):
        for code in ("ECONNRESET", "401", "ValidationError"):
            for _ in range(hours_ago + 1):
                bodies.append({"code": code, "operation": "op",
                               "timestamp": (now - timedelta(hours=hours_ago)).isoformat()})
    service_client.post(URL, data=json.dumps(bodies), content_type="application/json")
    digest_batch(limit=1000)

    expected = Counter(
        (e.timestamp.replace(minute=0, second=0, microsecond=0), e.group_id, e.category,
         e.severity, e.code, e.strategy)
        for e in ErrorLogEntry.objects.all()
    )
    actual = {
        (m.bucket, m.group_id, m.category, m.severity, m.code, m.strategy): m.count
        for m in ErrorMetric.objects.all()
    }
    assert actual == dict(expected)
    assert sum(actual.values()) == len(bodies)


def test_metrics_add_up_over_several_digests(service_client):
    for _ in range(3):
        report(service_client, {"code": "ECONNRESET", "operation": "op"})
        digest_batch(limit=100)
    metric = ErrorMetric.objects.get()
    assert metric.count == 3


def test_a_batch_of_1000_is_digested_with_a_bounded_number_of_queries(service_client):
    bodies = [{"code": f"E{i % 50}", "operation": f"op{i % 7}", "message": f"failure {i}"}
              for i in range(1000)]
    for round_ in ("new groups", "known groups"):
        response = service_client.post(URL, data=json.dumps(bodies),
                                       content_type="application/json")
        assert response.status_code == 201
        with CaptureQueriesContext(connection) as queries:
            result = digest_batch(limit=1000)
        assert result.entries == 1000
        assert ErrorGroup.objects.count() == len({(i % 50, i % 7) for i in range(1000)})
        statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
        if connection.vendor == "postgresql":
            # claim (ids only), load, find the groups, [create the missing ones, find
            # them], update entries, lock groups, update groups, upsert hourly metrics,
            # upsert the three tiers that sum them (hour totals, day totals, day groups;
            # none of these is a dead letter; a batch with some adds one INSERT: see
            # tests/resilience/dead_letters/test_creation.py)
            expected = {"new groups": 12, "known groups": 10}[round_]
            assert len(statements) == expected, (round_, statements)
        else:
            # SQLite splits bulk statements on its 999-parameter limit; still independent
            # of how many entries there are beyond that.
            assert len(statements) <= 31, statements
    assert sum(ErrorGroup.objects.values_list("times_seen", flat=True)) == 2000


def test_the_digest_reads_only_the_keys_of_extra_it_uses(service):
    frames = [{"module": "shop.views", "function": "pay", "filename": "shop/views.py",
               "in_app": True}]
    entry = ErrorLogEntryFactory(service=service, extra={
        "frames": frames, "unhandled": False, "message_template": "charge %s failed",
        "exceptions": [{"type": "KeyError", "context": "x" * 5000}], "event_type": None,
    })
    [loaded] = entries_load([entry.pk])
    # A key stored as null reads as absent, as .get() read it from the whole dict.
    assert loaded.extra == {"frames": frames, "unhandled": False,
                            "message_template": "charge %s failed"}
    assert (loaded.pk, loaded.service_id, loaded.timestamp) == (
        entry.pk, service.pk, entry.timestamp)


def test_digest_of_nothing_is_one_query(db):
    with CaptureQueriesContext(connection) as queries:
        assert digest_batch(limit=100).entries == 0
    assert len([q for q in queries if "SELECT" in q["sql"]]) == 1


@pytest.mark.django_db(transaction=True)
def test_two_digests_never_claim_the_same_entries(postgres, service):
    """Two workers digesting at once: each entry is counted once (SKIP LOCKED)."""
    import threading

    from django.db import connections

    from tests import factories

    for _ in range(400):
        factories.ErrorLogEntryFactory(service=service)
    errors = []

    def work():
        try:
            while digest_batch(limit=50).entries:
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ErrorGroup.objects.get().times_seen == 400
    assert sum(ErrorMetric.objects.values_list("count", flat=True)) == 400
