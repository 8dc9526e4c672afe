"""Row claims shared by the timer processor, recovery and the outbox."""

from django.db import connection


def skip_locked() -> bool:
    """Whether `select_for_update(skip_locked=True)` is available (PostgreSQL: yes), so a
    second worker passes over rows another one holds instead of waiting for them."""
    return connection.features.has_select_for_update_skip_locked
