"""Where a group was seen: every environment and its recent releases, kept by the digest in
a fixed number of statements, bounded per group, filtered on by the API and the admin, and
filled in for groups that existed before (the migration's backfill)."""

import importlib
import json
import pkgutil
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from resilience.core.group_state import first_and_last, seen_merge
from resilience.digest.service import digest_batch
from resilience.models import ErrorGroup, GroupEnvironment, GroupRelease
from resilience.models.group_seen import ENVIRONMENTS_MAX, RECENT_RELEASES_MAX
from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

URL = "/api/v1/errors/"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def report(client, bodies):
    response = client.post(URL, data=json.dumps(bodies), content_type="application/json")
    assert response.status_code == 201, response.content


def failure(minutes: int, **fields) -> dict:
    return {"code": "ECONNRESET", "operation": "payment.charge", "message": "reset",
            "timestamp": at(minutes).isoformat(), **fields}


def names(model, group) -> set[str]:
    return set(model.objects.filter(group=group).values_list("name", flat=True))


# --- the pure merge -------------------------------------------------------------------


def test_a_known_name_seen_again_widens_its_span():
    change = seen_merge(known={"prod": (at(5), at(6))}, batch={"prod": (at(1), at(9))},
                        limit=10, keep_recent=False)
    assert change.write == {"prod": (at(1), at(9))} and change.drop == []


def test_a_full_set_of_environments_keeps_the_ones_it_has():
    known = {f"env{i}": (at(i), at(i)) for i in range(3)}
    change = seen_merge(known=known, batch={"late": (at(9), at(9)), "env0": (at(8), at(8))},
                        limit=3, keep_recent=False)
    assert change.write == {"env0": (at(0), at(8))} and change.drop == []


def test_new_environments_fill_the_room_left_in_the_order_they_were_first_seen():
    change = seen_merge(known={"a": (at(0), at(0))},
                        batch={"c": (at(3), at(3)), "b": (at(2), at(2)), "d": (at(4), at(4))},
                        limit=3, keep_recent=False)
    assert set(change.write) == {"b", "c"}


def test_releases_keep_the_most_recent_and_the_oldest_leave():
    known = {"1.0": (at(0), at(1)), "1.1": (at(2), at(3))}
    change = seen_merge(known=known, batch={"1.2": (at(4), at(5))}, limit=2,
                        keep_recent=True)
    assert change.write == {"1.2": (at(4), at(5))} and change.drop == ["1.0"]


def test_a_release_older_than_a_full_recent_set_is_not_kept():
    known = {"2.0": (at(5), at(6)), "2.1": (at(7), at(8))}
    change = seen_merge(known=known, batch={"1.0": (at(0), at(1))}, limit=2,
                        keep_recent=True)
    assert change.write == {} and change.drop == []


def test_first_and_last_are_by_first_and_last_seen():
    assert first_and_last({"b": (at(0), at(1)), "a": (at(2), at(9))}) == ("b", "a")
    assert first_and_last({}) == ("", "")


# --- the digest -------------------------------------------------------------------------


def test_a_group_first_seen_in_staging_is_found_in_production(service_client, service):
    report(service_client, [failure(0, environment="staging", release="shop@1.0")])
    digest_batch(limit=100)
    report(service_client, [failure(5, environment="production", release="shop@1.1"),
                            failure(6, environment="production")])
    digest_batch(limit=100)

    group = ErrorGroup.objects.get()
    assert group.environment == "staging"  # the first event's, as before
    assert names(GroupEnvironment, group) == {"staging", "production"}
    production = GroupEnvironment.objects.get(group=group, name="production")
    assert (production.first_seen, production.last_seen) == (at(5), at(6))
    assert names(GroupRelease, group) == {"shop@1.0", "shop@1.1"}
    assert (group.first_release, group.last_release) == ("shop@1.0", "shop@1.1")

    listed = service_client.get("/api/v1/groups/?environment=production").json()["results"]
    assert [g["id"] for g in listed] == [group.pk]
    assert (listed[0]["first_release"], listed[0]["last_release"]) == ("shop@1.0", "shop@1.1")
    assert [g["id"] for g in service_client.get(
        "/api/v1/groups/?release=shop@1.0").json()["results"]] == [group.pk]
    assert service_client.get("/api/v1/groups/?environment=qa").json()["results"] == []


def test_a_name_seen_again_in_a_later_batch_widens_its_stored_span(service_client):
    report(service_client, [failure(10, environment="production", release="shop@1.0")])
    digest_batch(limit=100)
    report(service_client, [failure(30, environment="production", release="shop@1.0"),
                            failure(5, environment="production", release="shop@1.0")])
    digest_batch(limit=100)
    for model in (GroupEnvironment, GroupRelease):
        row = model.objects.get()
        assert (row.first_seen, row.last_seen) == (at(5), at(30)), model


def test_an_event_without_a_release_keeps_the_last_release(service_client):
    report(service_client, [failure(0, release="shop@1.0")])
    digest_batch(limit=100)
    report(service_client, [failure(1)])
    digest_batch(limit=100)
    assert ErrorGroup.objects.get().last_release == "shop@1.0"
    assert not GroupEnvironment.objects.exists()  # none was named


def test_environments_are_bounded_per_group(service_client):
    report(service_client, [failure(i, environment=f"env-{i:03}")
                            for i in range(ENVIRONMENTS_MAX + 20)])
    digest_batch(limit=1000)
    report(service_client, [failure(500, environment="late")])
    digest_batch(limit=1000)
    group = ErrorGroup.objects.get()
    assert names(GroupEnvironment, group) == {f"env-{i:03}" for i in range(ENVIRONMENTS_MAX)}


def test_releases_keep_the_most_recent_and_the_group_its_first(service_client):
    count = RECENT_RELEASES_MAX + 20
    report(service_client, [failure(i, release=f"r{i:03}") for i in range(count)])
    digest_batch(limit=1000)
    report(service_client, [failure(1000, release="r-new")])
    digest_batch(limit=1000)
    group = ErrorGroup.objects.get()
    kept = names(GroupRelease, group)
    assert len(kept) == RECENT_RELEASES_MAX
    assert "r-new" in kept and "r000" not in kept and f"r{count - 1:03}" in kept
    assert (group.first_release, group.last_release) == ("r000", "r-new")


def test_where_groups_were_seen_costs_a_fixed_number_of_statements(service_client):
    bodies = [failure(i % 50, code=f"E{i % 50}", environment=f"env{i % 3}",
                      release=f"r{i % 4}") for i in range(1000)]
    report(service_client, bodies)
    report(service_client, [failure(55, code="E1", environment="env0", release="r9")])
    digest_batch(limit=1000)  # the groups exist and have their sets: the next batch merges
    report(service_client, bodies[:500])
    with CaptureQueriesContext(connection) as queries:
        assert digest_batch(limit=1000).entries == 501
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    seen = [s for s in statements if '"resilience_groupenvironment"' in s
            or '"resilience_grouprelease"' in s]
    # For each table one SELECT of what the groups have and one upsert; no release left.
    assert len(seen) == 4, seen
    if connection.vendor == "postgresql":
        assert len(statements) == 10 + 4, statements


def test_the_admin_filters_on_any_environment_and_release(admin_client, service_client):
    report(service_client, [failure(0, environment="staging", release="shop@1.0"),
                            failure(1, environment="production", release="shop@1.1"),
                            failure(2, code="OTHER", environment="staging")])
    digest_batch(limit=100)
    group = ErrorGroup.objects.get(code="ECONNRESET")
    changelist = reverse("admin:resilience_errorgroup_changelist")

    page = admin_client.get(changelist, {"environment": "production"})
    assert list(page.context["cl"].queryset) == [group]
    [environments] = [spec for spec in page.context["cl"].filter_specs
                      if getattr(spec, "parameter_name", "") == "environment"]
    assert environments.lookup_choices == [("production", "production"),
                                           ("staging", "staging")]
    page = admin_client.get(changelist, {"release": "shop@1.0"})
    assert list(page.context["cl"].queryset) == [group]


# --- the migration's backfill ------------------------------------------------------------


def test_the_backfill_fills_in_groups_from_their_rollups_and_entries(db):
    migration = backfill_migration()
    old = ErrorGroupFactory(environment="qa", first_seen=at(-60 * 24 * 60))  # entries gone
    group = ErrorGroupFactory(environment="staging", first_seen=at(0))
    for minutes, environment, release in [(0, "staging", "1.0"), (5, "production", "1.1"),
                                          (9, "production", "")]:
        ErrorLogEntryFactory(service=group.service, group=group, timestamp=at(minutes),
                             environment=environment, release=release, digested_at=at(10))
    digest_metrics_for(group)

    migration.backfill(apps, None)

    assert names(GroupEnvironment, old) == {"qa"}
    assert names(GroupEnvironment, group) == {"staging", "production"}
    assert names(GroupRelease, group) == {"1.0", "1.1"}
    group.refresh_from_db()
    assert (group.first_release, group.last_release) == ("1.0", "1.1")
    migration.backfill(apps, None)  # again: nothing doubled
    assert GroupEnvironment.objects.filter(group=group).count() == 2


def backfill_migration():
    """Found by name, not number: migrations are renumbered when branches are merged."""
    import resilience.migrations

    [name] = [m.name for m in pkgutil.iter_modules(resilience.migrations.__path__)
              if m.name.endswith("_group_environments_releases_and_manual_intervention")]
    return importlib.import_module(f"resilience.migrations.{name}")


def digest_metrics_for(group: ErrorGroup) -> None:
    """The hourly rollups the digest would have written for the group's entries."""
    from resilience.models import ErrorMetric

    for entry in group.entries.all():
        ErrorMetric.objects.get_or_create(
            bucket=entry.timestamp.replace(minute=0), service=group.service, group=group,
            environment=entry.environment, category=entry.category, severity=entry.severity,
            code=entry.code, strategy=entry.strategy,
            defaults={"count": 1, "last_seen": entry.timestamp})
