"""The digest's row updates as one statement each, whatever the batch size.

Django's bulk_update writes `SET f = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END` and
builds an expression per row and field in Python: marking 1,000 entries cost about 0.5 s
of CPU, most of a batch. On PostgreSQL each update here is one
`UPDATE … FROM unnest(%s::type[], …)` with one array parameter per column, so the Python
work is one list per column; the where-seen rows are upserted the same way
(`INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`), with no model instance per row.
Other databases (SQLite, the embedded first look) keep bulk_update and bulk_create.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Model

from resilience.models import ErrorLogEntry


def entries_mark_digested(pairs: Sequence[tuple[int, int]], *, at: datetime) -> None:
    """Set each entry's group and digested_at: `pairs` are (entry id, group id)."""
    if not pairs:
        return
    if connection.vendor != "postgresql":
        entries = [ErrorLogEntry(pk=pk, group_id=group_id, digested_at=at)
                   for pk, group_id in pairs]
        ErrorLogEntry.objects.bulk_update(entries, ["group", "digested_at"])
        return
    table = connection.ops.quote_name(ErrorLogEntry._meta.db_table)
    ids, groups = zip(*sorted(pairs), strict=True)  # id order: the claim's lock order
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET group_id = v.group_id, digested_at = %s "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, group_id) WHERE e.id = v.id",
            [at, list(ids), list(groups)],
        )


def seen_rows_upsert(model: type[Model], rows: Sequence[tuple[int, str, datetime, datetime]]
                     ) -> None:
    """Insert or update GroupEnvironment or GroupRelease rows, given as (group id, name,
    first_seen, last_seen), unique on (group, name): one statement, and no model instance
    per row (a batch of 1,000 entries over 300 groups writes about 900 of each)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(group_id=group_id, name=name, first_seen=first, last_seen=last)
             for group_id, name, first, last in rows],
            update_conflicts=True, unique_fields=["group", "name"],
            update_fields=["first_seen", "last_seen"])
        return
    table = connection.ops.quote_name(model._meta.db_table)
    groups, names, firsts, lasts = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (group_id, name, first_seen, last_seen) "
            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], "
            "%s::timestamptz[]) "
            "ON CONFLICT (group_id, name) DO UPDATE SET first_seen = excluded.first_seen, "
            "last_seen = excluded.last_seen",
            [groups, names, firsts, lasts],
        )


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of each instance (all of one model, saved before) in one UPDATE."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    arrays = [[pk.get_db_prep_save(obj.pk, connection) for obj in objs]]
    casts = [f"%s::{pk.rel_db_type(connection)}[]"]  # a foreign key's db_type is its target's
    for field in columns:
        arrays.append([field.get_db_prep_save(getattr(obj, field.attname), connection)
                       for obj in objs])
        casts.append(f"%s::{field.db_type(connection)}[]")
    quote = connection.ops.quote_name
    names = [quote(f"v_{field.column}") for field in columns]
    assignments = ", ".join(f"{quote(field.column)} = v.{name}"
                            for field, name in zip(columns, names, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
            f"FROM unnest({', '.join(casts)}) AS v(v_pk, {', '.join(names)}) "
            f"WHERE t.{quote(pk.column)} = v.v_pk",
            arrays,
        )
