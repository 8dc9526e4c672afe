"""Services queue our Celery tasks by name: each name is a registered task, routed to the
queue it always had."""

import pytest

from config.celery_app import app
from recovery.services import RUN_NOW_TASK
from resilience.dead_letters.replay import REPLAY_TASK
from resilience.digest.schedule import DIGEST_TASK


@pytest.mark.parametrize(("name", "queue"), [
    (DIGEST_TASK, "digest"), (REPLAY_TASK, "replay"), (RUN_NOW_TASK, "maintenance"),
])
def test_a_task_queued_by_name_is_registered_and_keeps_its_queue(name, queue):
    import recovery.tasks  # noqa: F401 - registers the tasks, as the worker does
    import resilience.tasks  # noqa: F401

    assert name in app.tasks
    assert app.amqp.router.route({}, name)["queue"].name == queue
