"""A burst of dead letters is a few alerts with a count, not one alert each: one per
operation per throttle window, and at most ALERT_DEAD_LETTER_MAX_PER_SERVICE per service
however many operation names the burst uses; the rest are counted into the last one and
announced by the next ("and 25 more since ...")."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from alerts.formatting import AlertContent, summary
from alerts.models import Alert
from alerts.services.evaluate import alerts_evaluate_dead_letter
from resilience.dead_letters.services import dead_letter_create
from tests.alerts.conftest import configure_defaults
from tests.alerts.helpers import digest, entries
from tests.alerts.test_evaluate import evaluate
from tests.campaigns.fixtures import restore_migrated_data  # noqa: F401 - fixture
from tests.factories import ServiceFactory

CAP = 5  # the default ALERT_DEAD_LETTER_MAX_PER_SERVICE
WINDOW = timedelta(minutes=10)  # the default rules' throttle


def letters(service, operations):
    """Dead letters as services make them through the API, each queueing its alert."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return [dead_letter_create(service_id=service.pk, operation=op, payload={"n": i},
                                   reason="gave up") for i, op in enumerate(operations)]


def alerts_for(service):
    return list(Alert.objects.filter(kind="dead_letter", service=service).order_by("id"))


@pytest.fixture
def configured(db, receiver):
    return configure_defaults(slack=receiver.url)


def test_thirty_on_one_operation_make_one_alert_counting_thirty(service, queue, configured):
    now = timezone.now()
    for letter in letters(service, ["order.sync"] * 30):
        alerts_evaluate_dead_letter(dead_letter_id=letter.pk, now=now)
    [alert] = alerts_for(service)
    assert alert.occurrences == 30
    assert alert.deliveries.filter(channel_kind="SLACK").count() == 1  # not thirty


def test_thirty_operations_make_at_most_the_cap_and_the_last_one_counts_the_rest(
    service, queue, configured
):
    now = timezone.now()
    for letter in letters(service, [f"order.sync.{i}" for i in range(30)]):
        alerts_evaluate_dead_letter(dead_letter_id=letter.pk, now=now)
    alerts = alerts_for(service)
    assert len(alerts) == CAP
    assert [a.occurrences for a in alerts] == [1, 1, 1, 1, 1 + 25]
    assert sum(a.deliveries.filter(channel_kind="SLACK").count() for a in alerts) == CAP

    # Another service's dead letters are not held back by this one's burst.
    other = ServiceFactory()
    [letter] = letters(other, ["order.sync.0"])
    assert alerts_evaluate_dead_letter(dead_letter_id=letter.pk, now=now) is not None

    # After the window the next one goes out and says what was held back.
    later = now + WINDOW + timedelta(seconds=1)
    [letter] = letters(service, ["order.sync.99"])
    alert = alerts_evaluate_dead_letter(dead_letter_id=letter.pk, now=later)
    assert (alert.previous_count, alert.previous_since) == (25, now)
    assert "(and 25 more since " in summary(AlertContent.from_json(alert.content))


def test_the_digest_path_is_capped_too(service, queue, configured):
    for i in range(30):
        entries(service, strategy="DEAD_LETTER", category="DATA_CORRUPTION",
                operation=f"database.write.{i}")
    payload = digest()
    assert len(payload["dead_letters"]) == 30  # one row per operation, as before
    evaluate(payload)
    alerts = alerts_for(service)
    assert len(alerts) == CAP
    assert sum(a.occurrences for a in alerts) == 30


def test_with_the_cap_off_every_operation_alerts(service, queue, configured, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_DEAD_LETTER_MAX_PER_SERVICE": 0}
    now = timezone.now()
    for letter in letters(service, [f"order.sync.{i}" for i in range(8)]):
        alerts_evaluate_dead_letter(dead_letter_id=letter.pk, now=now)
    assert len(alerts_for(service)) == 8


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("restore_migrated_data")
def test_evaluated_at_once_by_many_workers_the_cap_holds(postgres, receiver):
    configure_defaults(slack=receiver.url)
    service = ServiceFactory()
    made = [dead_letter_create(service_id=service.pk, operation=f"order.sync.{i}",
                               payload={"n": i}, reason="gave up") for i in range(30)]
    ids = [letter.pk for letter in made]
    start = threading.Barrier(10)
    errors: list[BaseException] = []

    def worker(chunk):
        try:
            start.wait()
            for letter_id in chunk:
                alerts_evaluate_dead_letter(dead_letter_id=letter_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(ids[i::10],)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    alerts = alerts_for(service)
    assert len(alerts) == CAP
    assert sum(a.occurrences for a in alerts) == 30
