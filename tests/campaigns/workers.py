"""The child-process side of the timer-processor race test (see
tests/resilience/circuit_workers.py for how the processes are started)."""

from __future__ import annotations


def process_timers(db_name: str, prefix: str, batch: int, *, start) -> list[int]:
    """Run the processor until nothing is due, as a Celery worker would; the ids of the
    timers this process completed."""
    from django.conf import settings
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = db_name  # the test database pytest created
    settings.EVENT_BUS_URL = ""  # events stay in the outbox: the race is about timers
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_KEY_PREFIX": prefix,
                          "TIMER_PROCESSOR_BATCH_SIZE": batch}
    from campaigns.timers import timers_process_due

    connection.ensure_connection()
    start()
    completed: list[int] = []
    while True:
        result = timers_process_due()
        if not result.claimed:
            break
        completed += result.outcomes.get("completed", [])
        assert set(result.outcomes) <= {"completed"}, result.outcomes
    connection.close()
    return completed
