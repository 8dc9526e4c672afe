"""Reads about digestion: what is still to digest, and how far behind it is."""

from datetime import datetime

from django.db.models import QuerySet

from resilience.models import ErrorLogEntry


def pending_entries() -> QuerySet[ErrorLogEntry]:
    # Quarantined rows stay undigested (in the entry_pending index) but are not work.
    return ErrorLogEntry.objects.filter(digested_at=None, quarantined_at=None)


def oldest_pending_received_at() -> datetime | None:
    """How far digestion lags: the receive time of the oldest entry still to digest
    (quarantined entries are set aside, not late)."""
    return pending_entries().order_by("id").values_list("received_at", flat=True).first()
