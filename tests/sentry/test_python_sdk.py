"""The real Python sentry_sdk, pointed at a live Faultline (pytest-django's live_server)."""

import logging

import pytest
from django.test import Client
from sentry_sdk.integrations.logging import LoggingIntegration

from resilience.digest.service import digest_batch
from resilience.models import ErrorGroup, ErrorLogEntry
from tests.sentry.live import RequestLog

pytestmark = pytest.mark.django_db(transaction=True)


def connect_upstream():
    try:
        raise TimeoutError("connect to 10.0.0.7:5432 timed out")
    except TimeoutError as exc:
        raise ConnectionRefusedError(111, "Connection refused") from exc


def capture(sdk, error_factory):
    try:
        error_factory()
    except Exception as exc:  # noqa: BLE001 - captured, as an application would
        return sdk.capture_exception(exc)


def api_entries(raw_key):
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}").get("/api/v1/errors/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_chained_exception_is_stored_classified_and_grouped(sdk, keys, service):
    with sdk.new_scope() as scope:
        scope.set_tag("team", "payments")
        scope.set_user({"id": "user-42", "email": "a@example.com"})
        event_id = capture(sdk, connect_upstream)
    sdk.flush(timeout=5)

    entry = ErrorLogEntry.objects.get()
    assert entry.event_id == event_id
    assert entry.service == service and entry.source == "sentry"
    assert entry.name == "ConnectionRefusedError"
    assert entry.category == "TRANSIENT"
    assert entry.strategy == "RETRY"
    assert entry.cause["name"] == "TimeoutError"
    assert "connect_upstream" in entry.stack_trace
    assert "The above exception preceded the following exception" in entry.stack_trace
    assert entry.environment == "sdk-test" and entry.release == "shop@2.1.0"
    assert entry.user_id == "user-42"
    assert entry.extra["tags"]["team"] == "payments"
    assert entry.extra["server_name"] == "web-1"
    assert entry.extra["sdk"]["name"] == "sentry.python"
    assert {"module", "function", "filename", "in_app"} == set(entry.extra["frames"][-1])

    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    assert group.title.startswith("ConnectionRefusedError")
    assert group.culprit == "tests.sentry.test_python_sdk in connect_upstream"

    [listed] = api_entries(keys[1])
    assert listed["event_id"] == event_id
    assert listed["category"] == "TRANSIENT"


def test_a_captured_message_is_stored(sdk):
    event_id = sdk.capture_message("cache warm-up took 40 s", level="warning")
    sdk.flush(timeout=5)
    entry = ErrorLogEntry.objects.get(event_id=event_id)
    assert entry.message == "cache warm-up took 40 s"
    assert entry.extra["level"] == "warning"


def test_two_events_with_one_fingerprint_make_one_group(sdk):
    with sdk.new_scope() as scope:
        scope.fingerprint = ["payment-gateway-down"]
        capture(sdk, connect_upstream)
        capture(sdk, lambda: {}["missing"])  # a KeyError elsewhere, same fingerprint
    capture(sdk, connect_upstream)  # no fingerprint: its own group
    sdk.flush(timeout=5)

    assert ErrorLogEntry.objects.count() == 3
    digest_batch(limit=100)
    assert sorted(ErrorGroup.objects.values_list("times_seen", flat=True)) == [1, 2]


def test_the_same_event_sent_twice_is_stored_once(sdk):
    event = {"event_id": "0123456789abcdef0123456789abcdef", "message": "once",
             "level": "error"}
    sdk.capture_event(dict(event))
    sdk.flush(timeout=5)
    sdk.capture_event(dict(event))
    sdk.flush(timeout=5)
    assert ErrorLogEntry.objects.filter(event_id=event["event_id"]).count() == 1


def test_after_a_429_the_sdk_backs_off(sdk, keys, budget_clock):
    key = keys[0]
    key.rate_limit_per_minute = 2
    key.save(update_fields=["rate_limit_per_minute"])
    with RequestLog() as log:
        for _ in range(3):
            capture(sdk, connect_upstream)
            sdk.flush(timeout=5)  # one request each
        assert log.count("/envelope/") == 3  # the third was answered 429
        capture(sdk, connect_upstream)
        sdk.flush(timeout=5)
        assert log.count("/envelope/") == 3  # the SDK did not send the fourth
    assert ErrorLogEntry.objects.count() == 2


class ServiceError(Exception):
    """An application's own wrapper, unknown to the code table."""


def charge_with_a_wrapper():
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        raise ServiceError("charging the card failed") from exc


def test_a_wrapped_refused_connection_is_retryable(sdk):
    event_id = capture(sdk, charge_with_a_wrapper)
    sdk.flush(timeout=5)

    entry = ErrorLogEntry.objects.get(event_id=event_id)
    assert entry.name.endswith("ServiceError")
    assert (entry.category, entry.retryable, entry.strategy) == ("TRANSIENT", True, "RETRY")
    assert entry.classification["classified_by"] == "cause"
    assert entry.classification["cause"]["code"] == "ConnectionRefusedError"


def test_the_seed_mode_switch_keeps_the_wrapper_permanent(sdk, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "CLASSIFY_BY_CAUSE": False}
    event_id = capture(sdk, charge_with_a_wrapper)
    sdk.flush(timeout=5)

    entry = ErrorLogEntry.objects.get(event_id=event_id)
    assert (entry.category, entry.retryable, entry.strategy) == ("PERMANENT", False, "FALLBACK")
    assert entry.classification["classified_by"] == "default"


# --- levels, log records, rate limits per category (issue 15) ----------------------------


@pytest.mark.parametrize(("level", "severity"),
                         [("debug", "LOW"), ("info", "LOW"), ("warning", "MEDIUM"),
                          ("error", "HIGH"), ("fatal", "CRITICAL")])
def test_a_captured_messages_level_is_its_severity(sdk, level, severity):
    event_id = sdk.capture_message("nightly export finished", level=level)
    sdk.flush(timeout=5)
    entry = ErrorLogEntry.objects.get(event_id=event_id)
    assert entry.severity == severity  # error: the seed's PERMANENT/HIGH for no code
    assert (entry.strategy == "IMMEDIATE_ALERT") == (level == "fatal")

    digest_batch(limit=100)
    assert ErrorGroup.objects.get().title == "nightly export finished"  # no "Error: "


def test_a_log_records_arguments_do_not_split_its_group(start_sdk):
    sdk = start_sdk(integrations=[LoggingIntegration(level=None, event_level=logging.ERROR)])
    log = logging.getLogger("shop.payments")
    for order_id in ("ord_9f2k", "ord_7x1q", "ord_3mm0"):
        log.error("charge %s failed", order_id)
    log.error("gateway answered after 30s")  # no arguments: the text is normalised
    log.error("gateway answered after 1500ms")
    sdk.flush(timeout=5)

    # The live server logs in this process too: only this logger's records are looked at.
    entries = ErrorLogEntry.objects.filter(extra__logger="shop.payments").order_by("id")
    assert [e.message for e in entries][:2] == ["charge ord_9f2k failed",
                                                "charge ord_7x1q failed"]
    assert entries[0].extra["message_template"] == "charge %s failed"
    digest_batch(limit=100)
    groups = {g.title: g.times_seen for g in ErrorGroup.objects.filter(
        entries__extra__logger="shop.payments").distinct()}
    assert groups == {"charge ord_9f2k failed": 3, "gateway answered after 30s": 2}


def test_after_a_429_for_errors_the_sdk_still_sends_transactions(start_sdk, keys,
                                                                 budget_clock):
    sdk = start_sdk(traces_sample_rate=1.0)
    key = keys[0]
    key.rate_limit_per_minute = 1
    key.save(update_fields=["rate_limit_per_minute"])
    with RequestLog() as log:
        for _ in range(2):
            capture(sdk, connect_upstream)
            sdk.flush(timeout=5)
        assert log.count("/envelope/") == 2  # the second was answered 429 (error;default)
        capture(sdk, connect_upstream)
        sdk.flush(timeout=5)
        assert log.count("/envelope/") == 2  # errors are held back...
        with sdk.start_transaction(name="checkout", op="http.server"):
            pass
        sdk.flush(timeout=5)
        assert log.count("/envelope/") == 3  # ...transactions are not
        transport = sdk.get_client().transport
        assert transport._check_disabled("error") and not transport._check_disabled("session")
    assert ErrorLogEntry.objects.count() == 1
