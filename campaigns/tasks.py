"""Celery entry points for the campaign lifecycle (queue "maintenance"). Thin."""

from celery import shared_task

from campaigns.timer_recovery import timer_requeue
from campaigns.timers import timers_process_due


@shared_task(name="campaigns.tasks.timers_process")
def timers_process() -> int:
    """celery-beat, every few seconds: claim the due timers and run each once."""
    return len(timers_process_due().claimed)


@shared_task(name="campaigns.tasks.timer_replay")
def timer_replay(*, payload: dict, headers: dict | None = None, replay_key: str = "",
                 dead_letter_id: int | None = None) -> bool:
    """A replay target for dead-lettered timers (kind "Celery task", operation
    "timer.execute"): the timer goes back to PENDING with a fresh retry count."""
    return timer_requeue(timer_id=int(payload["timer_id"]))
