"""Celery entry points for the digest, dead-letter replay and circuit expiry. Thin: they
call services."""

import time

from celery import shared_task

from resilience import conf
from resilience.circuits.expiry import circuits_expire_idle
from resilience.dead_letters.replay import (
    REPLAY_TASK,
    dead_letter_replay_batch,
    dead_letters_reclaim_stuck,
)
from resilience.digest.schedule import (
    DIGEST_TASK,
    digest_claimed_schedule_slot,
    digest_request_helpers,
    digest_schedule,
)
from resilience.digest.service import digest_batch

# One run digests for at most this long, then hands over to a fresh run so a long
# backlog never pins a worker (and the digest queue keeps moving other runs along).
RUN_BUDGET_SECONDS = 20.0


def _digest_until_empty(*, may_ask_help: bool) -> int:
    digested = 0
    started = time.monotonic()
    batch_size = conf.get("DIGEST_BATCH_SIZE")
    while time.monotonic() - started < RUN_BUDGET_SECONDS:
        result = digest_batch(limit=batch_size)
        digested += result.entries
        if result.entries + len(result.quarantined) < batch_size:  # a short batch: done
            return digested
        if may_ask_help:  # a full batch: a backlog, worth runs beside this one (once a run)
            digest_request_helpers(conf.get("DIGEST_PARALLEL_RUNS") - 1)
            may_ask_help = False
    digest_schedule()  # budget spent with work left: queue the next run
    return digested


# Acknowledged after the run and given back if the process running it dies (kill -9, OOM):
# a worker killed mid-digest left its entries for up to 84 s (issue 12). Redelivery is
# safe: claimed rows were rolled back with the dead connection, and a run digests only
# what is still pending. (A whole worker killed never acks either; the wake-up on
# reconnect in config/celery_app.py and the 10 s beat sweep cover the message.)
DIGEST_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name=DIGEST_TASK, **DIGEST_TASK_OPTIONS)
def digest_pending(helper: bool = False) -> int:
    """Digest everything pending; scheduled after ingest commits (coalesced), or asked for
    by a run that found a backlog (`helper`: it asks for no more helpers)."""
    if helper:
        return _digest_until_empty(may_ask_help=False)
    digest_claimed_schedule_slot()
    return _digest_until_empty(may_ask_help=True)


@shared_task(name="resilience.tasks.digest_sweep", **DIGEST_TASK_OPTIONS)
def digest_sweep() -> int:
    """The beat sweep: digests what a lost or never-sent digest message left behind."""
    return _digest_until_empty(may_ask_help=True)


# --- dead-letter replay (queue "replay", see CELERY_TASK_ROUTES) -----------------------


@shared_task(name=REPLAY_TASK)
def dead_letter_replay(
    *, filters: dict, actor_id: int | None = None, via: str = "system", force: bool = False,
    after_id: int = 0,
) -> int:
    """Replay one bounded batch of the dead letters `filters` names, then queue the rest."""
    result = dead_letter_replay_batch(
        filters=filters, actor_id=actor_id, via=via, force=force, after_id=after_id
    )
    if result.more:
        dead_letter_replay.apply_async(kwargs={
            "filters": filters, "actor_id": actor_id, "via": via, "force": force,
            "after_id": result.last_id,
        })
    return result.processed


@shared_task(name="resilience.tasks.dead_letter_reclaim_stuck")
def dead_letter_reclaim_stuck() -> int:
    """REPLAYING rows whose worker died go back to FAILED (for a periodic schedule)."""
    return dead_letters_reclaim_stuck()


# --- circuits (celery-beat, "maintenance" queue: config/periodic_tasks.py) -------------


@shared_task(name="resilience.tasks.circuits_expire_idle")
def circuits_expire_idle_task() -> dict:
    """Delete circuits idle for CIRCUIT_IDLE_EXPIRE_SECONDS, in bounded batches."""
    result = circuits_expire_idle()
    return {"deleted": result.deleted, "still_used": result.still_used,
            "batches": result.batches, "stopped": result.stopped}
