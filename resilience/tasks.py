"""Celery entry points for the digest. Thin: they call services and nothing else."""

import time

from celery import shared_task

from resilience import conf
from resilience.services.digest import digest_batch
from resilience.services.digest_schedule import digest_claimed_schedule_slot, digest_schedule

# One run digests for at most this long, then hands over to a fresh run so a long
# backlog never pins a worker (and the digest queue keeps moving other runs along).
RUN_BUDGET_SECONDS = 20.0


def _digest_until_empty() -> int:
    digested = 0
    started = time.monotonic()
    batch_size = conf.get("DIGEST_BATCH_SIZE")
    while time.monotonic() - started < RUN_BUDGET_SECONDS:
        result = digest_batch(limit=batch_size)
        digested += result.entries
        if result.entries < batch_size:
            return digested
    digest_schedule()  # budget spent with work left: queue the next run
    return digested


@shared_task(name="resilience.tasks.digest_pending")
def digest_pending() -> int:
    """Digest everything pending; scheduled after ingest commits (coalesced)."""
    digest_claimed_schedule_slot()
    return _digest_until_empty()


@shared_task(name="resilience.tasks.digest_sweep")
def digest_sweep() -> int:
    """The beat sweep: digests what a lost or never-sent digest message left behind."""
    return _digest_until_empty()
