"""An unsaved ErrorLogEntry as a JSON object and back: every column, exactly as built."""

from typing import Any

from django.db import models

from resilience.models import ErrorLogEntry


def _fields() -> list[models.Field]:
    return [f for f in ErrorLogEntry._meta.concrete_fields if not f.primary_key]


def entry_to_row(entry: ErrorLogEntry) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for field in _fields():
        value = field.value_from_object(entry)
        if isinstance(field, models.DateTimeField) and value is not None:
            value = value.isoformat()
        row[field.attname] = value
    return row


def row_to_entry(row: dict[str, Any]) -> ErrorLogEntry:
    values = {}
    for field in _fields():
        if field.attname in row:
            value = row[field.attname]
            if isinstance(field, models.DateTimeField) and value is not None:
                value = field.to_python(value)
            values[field.attname] = value
    entry = ErrorLogEntry(**values)
    # The id was chosen before the outage, and a resend may have been stored since:
    # the writer must look it up on conflict.
    entry.generated_event_id = False
    return entry
