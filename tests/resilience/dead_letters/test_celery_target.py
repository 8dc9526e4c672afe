"""Replay to a Celery task: a message for the named task is published on the broker (kombu's
in-memory transport in tests) with the payload, headers, replay key and id."""

from config.celery_app import app
from resilience.dead_letters.replay import dead_letter_replay_batch
from resilience.models import DeadLetter
from tests.factories import DeadLetterFactory, ReplayTargetFactory

TASK = "campaigns.tasks.apply_replayed_write"


def published(task_name: str) -> list[dict]:
    """Drain the broker's queues; the kwargs of every message for `task_name`."""
    found = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for queue in list(channel.queues):
            while True:
                message = channel.basic_get(queue, no_ack=True)
                if message is None:
                    break
                if message.headers.get("task") == task_name:
                    _args, kwargs, _embed = message.decode()
                    found.append(kwargs)
    return found


def test_a_celery_target_gets_a_message_for_its_task(service):
    published(TASK)  # start from an empty broker
    ReplayTargetFactory(service=service, kind="CELERY_TASK", url="", secret="", task_name=TASK)
    letter = DeadLetterFactory(service=service, payload={"write": 5}, headers={"h": "v"},
                               edited_payload={"write": 6})

    result = dead_letter_replay_batch(filters={"ids": [letter.pk]})

    assert result.replayed == 1
    assert published(TASK) == [{
        "payload": {"write": 6}, "headers": {"h": "v"},
        "replay_key": str(letter.replay_key), "dead_letter_id": letter.pk,
    }]
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.REPLAYED
    attempt = letter.attempts.get()
    assert (attempt.outcome, attempt.response_status) == ("SUCCEEDED", None)


def test_a_broker_failure_is_a_failed_attempt(service, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker unreachable")

    monkeypatch.setattr(app, "send_task", down)
    ReplayTargetFactory(service=service, kind="CELERY_TASK", url="", secret="", task_name=TASK)
    letter = DeadLetterFactory(service=service)
    dead_letter_replay_batch(filters={"ids": [letter.pk]})
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.FAILED
    assert "broker unavailable" in letter.last_replay_error
