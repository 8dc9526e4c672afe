"""A paginator for the admin's large tables that never runs a full COUNT(*).

Counting a million-row table on every changelist page is the admin's classic slowdown
(PostgreSQL scans the whole table for an exact count). Instead:

- unfiltered, on PostgreSQL: the planner's estimate, pg_class.reltuples, which ANALYZE and
  autovacuum keep current; it is exact enough to size the page links;
- filtered, or on another database, or when the estimate is small or unknown: an exact count
  of at most COUNT_CAP + 1 rows through a LIMITed subquery, shown as "10,000+" past the cap.
"""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    count_cap = COUNT_CAP
    count_is_estimate = False
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        if self._is_unfiltered():
            estimate = self._estimate()
            # Below the cap a real (bounded) count is cheap and exact. -1 means never
            # analysed (or a partitioned parent), which also falls back to the bounded count.
            if estimate is not None and estimate > self.count_cap:
                self.count_is_estimate = True
                return estimate
        capped = self.object_list.order_by().values("pk")[: self.count_cap + 1].count()
        self.count_is_capped = capped > self.count_cap
        return capped

    @property
    def count_label(self) -> str:
        """The count as the changelist shows it: "10,000+", "about 1,234,567" or "42"."""
        count = self.count
        if self.count_is_capped:
            return f"{self.count_cap:,}+"
        if self.count_is_estimate:
            return f"about {count:,}"
        return f"{count:,}"

    def _is_unfiltered(self) -> bool:
        queryset = self.object_list
        return isinstance(queryset, QuerySet) and not queryset.query.where

    def _estimate(self) -> int | None:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        return int(row[0]) if row else None
