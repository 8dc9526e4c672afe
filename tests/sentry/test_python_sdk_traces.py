"""What the real Python sentry_sdk tells about an exception, as the entry keeps it: frame
context and variables, chains, ExceptionGroups as trees, handled or not."""

import sys

import pytest
from django.test import Client
from sentry_sdk.integrations.excepthook import ExcepthookIntegration

from resilience.core.exception_tree import LINK_TEXT
from resilience.digest.service import digest_batch
from resilience.models import ErrorGroup, ErrorLogEntry
from tests.sentry.test_python_sdk import capture

pytestmark = pytest.mark.django_db(transaction=True)


def charge_card(order_id: int, amount: float) -> None:
    gateway = "https://pay.example/charge"
    raise ConnectionRefusedError(111, f"{gateway} refused order {order_id}")


def pay_with_cause() -> None:
    try:
        charge_card(42, 12.5)
    except ConnectionRefusedError as exc:
        raise RuntimeError("payment failed") from exc


def pay_with_context() -> None:
    try:
        charge_card(42, 12.5)
    except ConnectionRefusedError:
        raise RuntimeError("payment failed")  # noqa: B904 - an implicit context, on purpose


def pay_all() -> None:
    errors = []
    for order_id in (1, 2):
        try:
            pay_with_context() if order_id == 1 else charge_card(order_id, 1.0)
        except Exception as exc:  # noqa: BLE001 - collected into the group
            errors.append(exc)
    raise ExceptionGroup("2 payments failed", errors) from KeyError("batch-7")


def sent(sdk, factory) -> ErrorLogEntry:
    event_id = capture(sdk, factory)
    sdk.flush(timeout=5)
    return ErrorLogEntry.objects.get(event_id=event_id)


def test_each_frame_keeps_its_source_lines_and_local_variables(sdk):
    entry = sent(sdk, pay_with_cause)
    raised_at = entry.extra["exceptions"][0]["frames"][-1]
    assert raised_at["function"] == "charge_card" and raised_at["in_app"] is True
    assert raised_at["context_line"].strip().startswith("raise ConnectionRefusedError(111")
    assert raised_at["pre_context"][-1].strip() == 'gateway = "https://pay.example/charge"'
    assert raised_at["vars"]["order_id"] == "42"
    assert raised_at["vars"]["gateway"] == "'https://pay.example/charge'"
    # Grouping still reads the frames without lines or context.
    assert set(entry.extra["frames"][-1]) == {"module", "function", "filename", "in_app"}


@pytest.mark.parametrize("factory", [pay_with_cause, pay_with_context])
def test_a_plain_chain_is_not_called_a_direct_cause_when_the_sdk_does_not_say(sdk, factory):
    # sentry-python walks a plain chain (utils.walk_exception_chain) without
    # mechanism.source: `raise ... from` and an implicit context look the same.
    entry = sent(sdk, factory)
    assert [e["link"] for e in entry.extra["exceptions"]] == ["chained", None]
    assert LINK_TEXT["chained"] in entry.stack_trace
    assert entry.cause["name"] == "ConnectionRefusedError"  # still classified by its cause


def test_an_exception_group_is_kept_as_a_tree(sdk):
    entry = sent(sdk, pay_all)
    shown = [(e["type"], e["link"], e.get("member")) for e in entry.extra["exceptions"]]
    parents = {e["type"] + str(e.get("member", "")): e["parent"]
               for e in entry.extra["exceptions"]}
    assert shown[-1] == ("ExceptionGroup", None, None)
    assert ("KeyError", "cause", None) in shown  # the group's `from`
    assert ("RuntimeError", "member", 0) in shown
    assert ("ConnectionRefusedError", "member", 1) in shown
    # Inside a group the SDK says how a context was linked: the first member's.
    assert ("ConnectionRefusedError", "context", None) in shown
    group_index = len(shown) - 1
    assert parents["RuntimeError0"] == parents["ConnectionRefusedError1"] == group_index
    text = entry.stack_trace
    assert "  +-+---------------- 1 ----------------" in text
    assert "    | " + LINK_TEXT["context"] in text


def test_handled_and_unhandled_errors_and_the_groups_filter(start_sdk, keys, monkeypatch,
                                                          admin_client):
    # The integration wraps sys.excepthook once per process: put back what was there.
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    sdk = start_sdk(integrations=[ExcepthookIntegration(always_run=True)])
    handled = sent(sdk, lambda: charge_card(1, 1.0))
    try:
        {}["missing"]
    except KeyError:
        sys.excepthook(*sys.exc_info())  # what Python calls for an uncaught exception
    sdk.flush(timeout=5)
    unhandled = ErrorLogEntry.objects.get(name="KeyError")
    assert (handled.extra["unhandled"], handled.extra["mechanism"]) == (False, "generic")
    assert (unhandled.extra["unhandled"], unhandled.extra["mechanism"]) == (True, "excepthook")

    digest_batch(limit=100)
    crash = ErrorGroup.objects.get(name="KeyError")
    assert crash.unhandled is True
    assert ErrorGroup.objects.get(name="ConnectionRefusedError").unhandled is False
    listed = admin_client.get("/admin/resilience/errorgroup/?unhandled=1&status__exact=all")
    assert list(listed.context["cl"].queryset) == [crash]
    page = admin_client.get(f"/admin/resilience/errorgroup/{crash.pk}/change/").content.decode()
    assert 'id="group-unhandled"' in page and "unhandled (excepthook)" in page
    api = Client(HTTP_AUTHORIZATION=f"Bearer {keys[1]}")
    assert [g["id"] for g in api.get("/api/v1/groups/?unhandled=true").json()["results"]] == [
        crash.pk]
    assert crash.pk not in [g["id"] for g in
                            api.get("/api/v1/groups/?unhandled=false").json()["results"]]
