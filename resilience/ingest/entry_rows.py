"""Accepted entries as COPY rows: encoded on the request's own thread, written by COPY.

A COPY of ready-made lines is the cheapest write PostgreSQL has, for the database and for
us: no per-field `get_db_prep_save`, no parameters to quote, no statement to parse. COPY
returns nothing, so the ids are taken from the table's sequence beforehand (`IdBlock`);
ids are never reused, and a gap left by a failed write is harmless.
"""

import io
import time
from collections import deque
from collections.abc import Sequence
from functools import cache
from operator import attrgetter

from django.db import connection, models
from django.db.models.base import ModelState

from resilience.core import copy_text
from resilience.models import ErrorLogEntry

# An id block older than this is dropped rather than used: entries from different
# processes stay in id order to within about a second, as "newest first" lists expect.
ID_BLOCK_SECONDS = 1.0
ID_BLOCK_SIZE = 64


def copy_supported() -> bool:
    return connection.vendor == "postgresql"


def _encoder(field: models.Field) -> copy_text.Encoder:
    if isinstance(field, models.JSONField):
        return copy_text.json_value
    if isinstance(field, models.BooleanField):
        return copy_text.bool_value
    if isinstance(field, models.DateTimeField):
        return copy_text.datetime_value
    if isinstance(field, models.IntegerField | models.ForeignKey):
        return copy_text.int_value
    return copy_text.text_value


@cache
def _unset_columns() -> tuple[tuple[str, object, bool], ...]:
    """Every column's attname with its default, and whether the default is made anew."""
    return tuple(
        (f.attname, f.default, True) if f.has_default() and callable(f.default)
        else (f.attname, None if f.primary_key else f.get_default(), False)
        for f in ErrorLogEntry._meta.concrete_fields
    )


def new_entry(values: dict[str, object]) -> ErrorLogEntry:
    """An unsaved entry from its columns' attnames, the rest at their defaults.

    Built as Django builds a row it loads (`Model.from_db` sets the attributes and the
    state): `Model.__init__` resolves every keyword against the fields and sends two
    signals that nothing here listens to, about 5% of a single report's CPU."""
    entry = ErrorLogEntry.__new__(ErrorLogEntry)
    for name, default, fresh in _unset_columns():
        if name not in values:
            values[name] = default() if fresh else default
    entry.__dict__.update(values)
    entry._state = ModelState()
    return entry


@cache
def _layout() -> tuple[str, attrgetter, tuple[copy_text.Encoder, ...]]:
    """The COPY statement (id first), a getter of every other column, and their encoders."""
    fields = [f for f in ErrorLogEntry._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(["id"] + [quote(f.column) for f in fields])
    statement = f"COPY {quote(ErrorLogEntry._meta.db_table)} ({columns}) FROM STDIN"
    return statement, attrgetter(*(f.attname for f in fields)), tuple(map(_encoder, fields))


def encode(entry: ErrorLogEntry) -> str:
    """The entry's columns but its id, as one COPY text line (kept on the entry)."""
    _, values_of, encoders = _layout()
    return copy_text.copy_line(values_of(entry), encoders)


@cache
def _sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')",
                       [ErrorLogEntry._meta.db_table])
        return cursor.fetchone()[0]


def take_ids(count: int) -> list[int]:
    """`count` fresh ids from the entries' sequence, in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [_sequence(), count])
        return [row[0] for row in cursor.fetchall()]


class IdBlock:
    """Ids taken a block at a time, for one thread (the group committer's)."""

    def __init__(self, size: int = ID_BLOCK_SIZE, seconds: float = ID_BLOCK_SECONDS) -> None:
        self.size = size
        self.seconds = seconds
        self.ids: deque[int] = deque()
        self.taken_at = 0.0

    def take(self, count: int) -> list[int]:
        now = time.monotonic()
        if len(self.ids) < count or now - self.taken_at > self.seconds:
            self.ids = deque(take_ids(max(count, self.size)))
            self.taken_at = now
        return [self.ids.popleft() for _ in range(count)]

    def forget(self) -> None:
        """After a failure: the connection, and with it the block, may be new."""
        self.ids.clear()


def copy_rows(entries: Sequence[ErrorLogEntry], ids: Sequence[int]) -> None:
    """COPY the entries (their lines from `encode`, or encoded now) with these ids. One
    statement: outside a transaction it commits by itself; a conflict writes nothing."""
    statement, _, _ = _layout()
    lines = [
        f"{pk}\t{getattr(entry, 'copy_line', None) or encode(entry)}"
        for entry, pk in zip(entries, ids, strict=True)
    ]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # copy_expert is psycopg2's own: the wrapper turns its errors into Django's.
        cursor.cursor.copy_expert(statement, io.BytesIO(copy_text.copy_text(lines)))
    for entry, pk in zip(entries, ids, strict=True):
        entry.pk = pk
        entry._state.adding = False
