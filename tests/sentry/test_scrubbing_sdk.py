"""The real Python sentry_sdk sends what a request held (send_default_pii=True, its own
scrubber emptied); Faultline stores it scrubbed (resilience/core/scrubbing.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from sentry_sdk.scrubber import EventScrubber

from resilience.core.scrubbing import FILTERED
from resilience.ingest.keys import service_key_dsn
from resilience.models import ErrorLogEntry
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

SITE = Path(__file__).with_name("django_site.py")
CARD = "4111 1111 1111 1111"


@pytest.fixture
def dsn(live_server, service, settings):
    settings.EXTERNAL_URL = live_server.url
    return service_key_dsn(factories.service_key(service)[0])


def test_a_django_request_with_credentials_and_a_card_number_is_stored_scrubbed(dsn):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, str(SITE), dsn], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    event_id = done.stdout.strip().splitlines()[-1]

    entry = ErrorLogEntry.objects.get(event_id=event_id)
    request = entry.extra["request"]
    headers = request["headers"]
    assert headers["Authorization"] == FILTERED
    assert headers["Cookie"] == FILTERED
    assert request["cookies"] == FILTERED  # every cookie: the key names them all
    assert request["data"] == {"card_number": FILTERED, "name": "Ada Lovelace",
                               "password": FILTERED}
    assert request["query_string"] == f"step=2&token={FILTERED}"
    stored = str(entry.extra) + entry.message + entry.stack_trace + str(entry.context)
    for secret in ("s3cr3t-t0ken-value", "abc123", CARD, "hunter2", "query-secret"):
        assert secret not in stored
    assert entry.message == "payment gateway declined the charge"


@pytest.fixture
def sdk(dsn):
    sentry_sdk.init(dsn=dsn, default_integrations=False, auto_enabling_integrations=False,
                    auto_session_tracking=False, send_client_reports=False,
                    send_default_pii=True,
                    event_scrubber=EventScrubber(denylist=[], send_default_pii=True))
    yield sentry_sdk
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK is off for the tests that follow


def test_extra_contexts_tags_and_the_message_of_a_captured_error_are_scrubbed(sdk):
    with sdk.new_scope() as scope:
        scope.set_extra("api_key", "sk_live_abcdef")
        scope.set_extra("refund", {"iban": "GB82 WEST 1234 5698 7654 32", "amount": 1250})
        scope.set_context("payment", {"card": CARD, "order_id": 1712345678901})
        scope.set_tag("session_id", "s-42")
        try:
            raise ValueError(f"card {CARD} was declined")
        except ValueError as exc:
            event_id = sdk.capture_exception(exc)
    sdk.flush(timeout=5)

    entry = ErrorLogEntry.objects.get(event_id=event_id)
    assert entry.message == f"card {FILTERED} was declined"
    assert entry.stack_trace.endswith(f"ValueError: card {FILTERED} was declined")
    assert entry.extra["extra"]["api_key"] == FILTERED
    assert entry.extra["extra"]["refund"] == {"iban": FILTERED, "amount": 1250}
    assert entry.extra["contexts"]["payment"] == {"card": FILTERED, "order_id": 1712345678901}
    assert entry.extra["tags"]["session_id"] == FILTERED
