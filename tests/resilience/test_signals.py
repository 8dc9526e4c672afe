"""resilience announces through signals after commit; a failing receiver never breaks it."""

import logging

import pytest
from django.test import TestCase

from alerts import hooks
from resilience import signals
from resilience.dead_letters.services import dead_letter_create
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """A receiver of our own on dead_letter_created, disconnected afterwards."""
    calls = []

    def listen(sender, **kwargs):
        calls.append(kwargs["dead_letter_id"])

    signals.dead_letter_created.connect(listen, dispatch_uid="test.heard")
    yield calls
    signals.dead_letter_created.disconnect(dispatch_uid="test.heard")


@pytest.fixture
def broken():
    def explode(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.dead_letter_created.connect(explode, dispatch_uid="test.broken")
    yield
    signals.dead_letter_created.disconnect(dispatch_uid="test.broken")


@pytest.mark.parametrize(("signal", "receiver"), [
    (signals.digest_committed, hooks.digest_committed),
    (signals.circuit_opened, hooks.circuit_opened),
    (signals.dead_letter_created, hooks.dead_letter_created),
    (signals.fallback_failed, hooks.fallback_failed),
])
def test_alerts_connects_its_hooks_in_its_app_config(signal, receiver):
    assert receiver in signal._live_receivers(None)[0]


def test_a_dead_letter_is_announced_only_after_commit(heard):
    service = ServiceFactory()
    with TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=service.pk, operation="order.sync",
                                    payload={"id": 1}, reason="gave up")
        assert heard == []
    assert heard == [letter.pk]


def test_a_failing_receiver_is_logged_and_the_others_still_hear(broken, heard, caplog):
    service = ServiceFactory()
    with caplog.at_level(logging.ERROR, logger="faultline.signals"), \
            TestCase.captureOnCommitCallbacks(execute=True):
        letter = dead_letter_create(service_id=service.pk, operation="order.sync",
                                    payload={"id": 1}, reason="gave up")
    assert heard == [letter.pk]
    assert any("receiver bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
