"""Shared by the schedule migrations: one interval task in django-celery-beat's scheduler.

(The migration loader skips modules whose name starts with an underscore.)
"""


def ensure_interval_task(
    apps, *, name: str, task: str, seconds: int, queue: str, description: str
) -> None:
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": task,
            "interval": every,
            "queue": queue,
            "enabled": True,
            "description": description,
        },
    )


def remove_task(apps, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
