"""Aware datetimes go to PostgreSQL in an offset it accepts.

Python reads UTC offsets up to ±23:59 (`2020-01-01T00:00:00-16:52` is valid RFC 3339);
PostgreSQL refuses a time zone displacement past ±15:59, so any query built from such a
value (an admin list filter `?timestamp__gte=…-16:52`, an API filter) was a 500. Inputs
we parse ourselves are converted to UTC where they are read (report_schema, the API
filters); this adapter is the one place that covers every other path, e.g. the admin's
own lookups. It changes no instant: the value is sent as the same moment in UTC.
"""

from datetime import UTC, datetime, timedelta

import psycopg2.extensions

# PostgreSQL's limit on a displacement (src/include/datatype/timestamp.h: TZDISP_LIMIT).
_LIMIT = timedelta(hours=15, minutes=59, seconds=59)
_original = psycopg2.extensions.adapters[(datetime, psycopg2.extensions.ISQLQuote)]
_registered = False


def _adapt(value: datetime):
    offset = value.utcoffset()
    if offset is not None and abs(offset) > _LIMIT:
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # the instant lies before year 1 or after 9999 in UTC
            value = (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)
    return _original(value)


def register() -> None:
    """Install the adapter for this process (idempotent); called from the app's ready()."""
    global _registered
    if not _registered:
        psycopg2.extensions.register_adapter(datetime, _adapt)
        _registered = True
