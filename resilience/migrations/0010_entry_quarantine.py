"""Quarantine for entries the digest cannot process, and the rows already stored that it
could never read.

Before validation refused them, a timestamp such as 0001-01-01T00:00:00+14:00 was stored
by PostgreSQL as 1 BC; psycopg2 cannot read it back (ValueError: year -1 is out of
range), so every digest run, GET /api/v1/errors/ and the admin failed on it. Such rows get
the treatment the digest now gives them (services/digest.py, entry_quarantine): the
timestamp is replaced by received_at, the original is kept in the reason, and an
undigested row is quarantined. Only PostgreSQL can hold such a value: on SQLite Django
converts to UTC before writing and the write itself failed.
"""

from django.db import migrations, models
from django.db.models import Q

# Whatever psycopg2 reads back into a Python datetime (years 1 to 9999, in UTC).
REPAIR_SQL = """
UPDATE resilience_errorlogentry
   SET timestamp = received_at,
       quarantined_at = CASE WHEN digested_at IS NULL THEN now() ELSE quarantined_at END,
       quarantine_reason = 'timestamp ' || (timestamp AT TIME ZONE 'UTC')::text
           || ' UTC cannot be read (outside years 1 to 9999); replaced by received_at'
 WHERE timestamp < '0001-01-01 00:00:00+00' OR timestamp >= '10000-01-01 00:00:00+00'
"""


INDEX_SQL = (
    'CREATE INDEX {how}IF NOT EXISTS "entry_quarantined" ON "resilience_errorlogentry" '
    '("quarantined_at") WHERE "quarantined_at" IS NOT NULL'
)


def _concurrently(schema_editor) -> str:
    # The entries table can hold millions of rows: on PostgreSQL the index is built
    # without blocking ingest (hence atomic = False below).
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def create_index(apps, schema_editor):
    schema_editor.execute(INDEX_SQL.format(how=_concurrently(schema_editor)))


def drop_index(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX {_concurrently(schema_editor)}IF EXISTS "entry_quarantined"')


def repair_unreadable_timestamps(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(REPAIR_SQL)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("resilience", "0009_rule_severity_follows_category"),
    ]

    operations = [
        migrations.AddField(
            model_name="errorlogentry",
            name="quarantined_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="errorlogentry",
            name="quarantine_reason",
            field=models.TextField(blank=True, default=""),
            preserve_default=False,
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="errorlogentry",
                    index=models.Index(
                        condition=Q(quarantined_at__isnull=False),
                        fields=["quarantined_at"],
                        name="entry_quarantined",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
        # Irreversible in effect (the original timestamp survives only as text in the
        # reason), but harmless to leave in place when migrating backwards.
        migrations.RunPython(repair_unreadable_timestamps, migrations.RunPython.noop),
    ]
