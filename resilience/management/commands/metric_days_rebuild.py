"""`manage.py metric_days_rebuild [--days N]`: rebuild the rollup tiers (hour totals, day
totals, day groups) from the hourly rollups (resilience/digest/rollup_days.py), the last N
UTC days or all of them.

Run it once after an upgrade during which digest workers of the previous version kept
running after `migrate` (they wrote hourly rows only). Safe while the digest runs.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from resilience.core.rollup_days import DAY, day_floor
from resilience.digest.rollup_days import metric_days_rebuild


class Command(BaseCommand):
    help = ("Rebuild the rollup tiers (MetricHourTotal, MetricDayTotal, MetricDayGroup) from "
            "the hourly rollups (ErrorMetric).")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="only the last N UTC days, today included (default: all)")

    def handle(self, *args, days: int | None = None, **options):
        since = None
        if days is not None:
            since = day_floor(timezone.now()) - (max(days, 1) - 1) * DAY
        result = metric_days_rebuild(since=since)
        self.stdout.write(f"rebuilt {result.days} day(s), {result.rows} row(s)")
