"""The rollup tiers answer exactly what the hourly rollups alone answer: the trend from the
hour totals, whole UTC days from the day totals and day groups, the edge hours (ranges
starting or ending mid-day, the current partial day) from ErrorMetric."""

from datetime import UTC, datetime, timedelta

import pytest

from resilience.digest.service import digest_batch
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import ErrorGroup, MetricDayGroup, MetricDayTotal, MetricHourTotal
from resilience.observability.dashboard import Scope, metrics_summary
from tests import factories
from tests.resilience.dashboard.conftest import generate

pytestmark = pytest.mark.usefixtures("postgres")

# The data ends at 13:20 UTC and spans 100 hours (four days and a bit, so every range
# below holds whole days and partial ones).
DATA_NOW = datetime(2026, 11, 27, 13, 20, tzinfo=UTC)
NOWS = [
    DATA_NOW,                                        # mid-day: the current day is partial
    datetime(2026, 11, 27, 0, 0, tzinfo=UTC),        # exactly midnight
    datetime(2026, 11, 27, 0, 40, tzinfo=UTC),       # just past midnight
    datetime(2026, 11, 26, 23, 59, tzinfo=UTC),      # just before midnight
    datetime(2026, 11, 28, 2, 5, tzinfo=UTC),        # a day later: today is still empty
]
RANGES = ["1h", "24h", "25h", "36h", "2d", "3d", "7d", "30d"]


def both(range_, now, scope=None):
    kwargs = dict(range_=range_, now=now, scope=scope or Scope(), system=False)
    return metrics_summary(**kwargs), metrics_summary(**kwargs, hourly_only=True)


@pytest.fixture
def data(db):
    return generate(DATA_NOW, count=600, hours=100, seed=11)


def test_days_and_edge_hours_equal_the_hourly_read(data):
    # One data set for every (now, range): generating it is most of the test's time.
    for now in NOWS:
        for range_ in RANGES:
            with_days, hourly_only = both(range_, now)
            assert with_days == hourly_only, (now, range_)
            # Not a comparison of two empty reads.
            assert with_days["total"] > 0 or range_ == "1h", (now, range_)


def test_scoped_reads_equal_the_hourly_read(data):
    for range_ in ("2d", "7d"):
        for scope in (Scope(service_id=data.services[0].pk), Scope(environment="staging"),
                      Scope(service_id=data.services[1].pk, environment="production")):
            with_days, hourly_only = both(range_, DATA_NOW, scope)
            assert with_days == hourly_only, (range_, scope)
            assert with_days["total"] > 0


@pytest.mark.parametrize("model, figure", [
    (MetricHourTotal, "trend"), (MetricDayTotal, "total"), (MetricDayGroup, "top_groups")])
def test_each_tier_is_really_read(data, model, figure):
    # Not an accident of both reads using the hourly rows: change a tier row (as no writer
    # would) and the tiers' read, only it, shows it.
    row = model.objects.filter(bucket__gte=datetime(2026, 11, 25, tzinfo=UTC),
                               bucket__lt=datetime(2026, 11, 26, tzinfo=UTC)).first()
    model.objects.filter(pk=row.pk).update(count=row.count + 1000)
    with_tiers, hourly_only = both("7d", DATA_NOW)
    assert with_tiers[figure] != hourly_only[figure]
    if figure == "total":
        assert with_tiers["total"] == hourly_only["total"] + 1000


def test_events_and_outcomes_after_the_first_read_keep_both_equal(data):
    service = data.services[0]
    late = [factories.ErrorLogEntryFactory(service=service, timestamp=at, code="ETIMEDOUT",
                                           strategy="RETRY", environment="production")
            for at in (DATA_NOW - timedelta(hours=30), DATA_NOW - timedelta(minutes=5),
                       datetime(2026, 11, 25, 0, 0, tzinfo=UTC))]
    digest_batch(limit=100)
    for entry in late:
        entry_outcome_record(entry_id=entry.pk, succeeded=entry.pk % 2 == 0)
    entry_outcome_record(entry_id=late[0].pk, succeeded=late[0].pk % 2 == 1)  # flipped
    for range_ in ("3d", "7d"):
        with_days, hourly_only = both(range_, DATA_NOW)
        assert with_days == hourly_only


def test_after_a_group_is_deleted_both_reads_agree(data):
    # The deleted group's days are rebuilt from the hourly rows left (its top code's latest
    # occurrence too).
    for group in (ErrorGroup.objects.order_by("-times_seen").first(),
                  ErrorGroup.objects.filter(code="").first()):
        gone = group.pk
        group.delete()
        for range_ in ("2d", "7d"):
            with_tiers, hourly_only = both(range_, DATA_NOW)
            assert with_tiers == hourly_only
            assert gone not in [g["group"] for g in with_tiers["top_groups"]]
