"""The entry page's exceptions: frames with their source lines and variables, library
frames folded, chains labelled, an exception group's members under it, handled or not."""

import re

import pytest
from django.urls import reverse

from resilience.core.exception_tree import LINK_TEXT
from resilience.models import ErrorLogEntry
from resilience.sentry.mapping import map_event
from tests.factories import ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

EID = "5b1f0c3e8d2a4f6b9c7e1a2d3f4b5c6d"


def frame(function, *, in_app=True, lineno=20, **more):
    return {"module": f"shop.{function}", "function": function, "lineno": lineno,
            "filename": f"shop/{function}.py", "in_app": in_app, **more}


def charge_frame():
    return frame(
        "charge", lineno=42,
        pre_context=["def charge(order, amount):", '    gateway = "https://pay.example"'],
        context_line="    raise ConnectionRefusedError(gateway)",
        post_context=["", "def refund(order):"],
        vars={"order": "{'id': 7}", "amount": "12.5", "note": "'<script>alert(1)</script>'"},
    )


def checkout_event():
    """ValueError("checkout failed") raised while handling a ConnectionRefusedError, inside
    an ExceptionGroup with a KeyError, unhandled (the Django integration)."""
    unhandled = {"type": "django", "handled": False}
    library = [frame("handler", in_app=False), frame("middleware", in_app=False)]
    return {
        "event_id": EID, "platform": "python",
        "exception": {"values": [
            {"type": "KeyError", "value": "'sku'",
             "mechanism": {**unhandled, "type": "chained", "exception_id": 3, "parent_id": 0,
                           "source": "exceptions[1]"}},
            {"type": "ConnectionRefusedError", "value": "https://pay.example",
             "stacktrace": {"frames": [frame("pay"), charge_frame()]},
             "mechanism": {**unhandled, "type": "chained", "exception_id": 2, "parent_id": 0,
                           "source": "__context__"}},
            {"type": "ValueError", "value": "checkout failed",
             "stacktrace": {"frames": [frame("checkout")]},
             "mechanism": {**unhandled, "type": "chained", "exception_id": 1, "parent_id": 0,
                           "source": "exceptions[0]"}},
            {"type": "ExceptionGroup", "value": "2 checkout errors",
             "stacktrace": {"frames": [*library, frame("view")]},
             "mechanism": {**unhandled, "exception_id": 0, "is_exception_group": True}},
        ]},
    }


def sentry_entry() -> ErrorLogEntry:
    mapped = map_event(checkout_event())
    return ErrorLogEntryFactory(event_id=EID, name="ExceptionGroup", message="2 checkout errors",
                                stack_trace=mapped.report["stack_trace"], extra=mapped.extra)


def entry_page(client, entry) -> str:
    response = client.get(reverse("admin:resilience_errorlogentry_change", args=[entry.pk]))
    assert response.status_code == 200
    return response.content.decode()


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_a_frame_shows_its_lines_with_its_own_highlighted_and_its_variables(client, viewer):
    client.force_login(viewer)
    page = squeeze(entry_page(client, sentry_entry()))
    assert '<td class="fl-lineno">40</td><td>def charge(order, amount):</td>' in page
    assert ('<tr class="fl-current"><td class="fl-lineno">42</td><td> raise '
            "ConnectionRefusedError(gateway)</td></tr>") in page
    assert "<th>amount</th><td>12.5</td>" in page
    # A variable is the reporter's text: escaped, never markup.
    assert "&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in page
    assert "<script>alert(1)" not in page
    # The innermost in-app frame opens onto its context; frames without any have none.
    assert page.count("<details open><summary>") == 1
    assert page.count("<details><summary>") == 0


def test_library_frames_fold_into_one_group_with_a_button_to_show_all(client, viewer):
    client.force_login(viewer)
    page = squeeze(entry_page(client, sentry_entry()))
    assert '<details class="fl-library"><summary>2 library frames</summary>' in page
    assert 'id="fl-show-all-frames"' in page and "trace/trace.js" in page
    assert page.count('<span class="fl-tag fl-tag-in-app">in app</span>') == 4


def test_the_group_is_a_tree_and_the_context_is_labelled_as_such(client, viewer):
    client.force_login(viewer)
    page = squeeze(entry_page(client, sentry_entry()))
    order = [page.index(text) for text in (
        "<code>ExceptionGroup</code>: 2 checkout errors",
        "Sub-exception 1 of 2",
        "<code>ConnectionRefusedError</code>",
        LINK_TEXT["context"],
        "<code>ValueError</code>: checkout failed",
        "Sub-exception 2 of 2",
        "<code>KeyError</code>",
    )]
    assert order == sorted(order)
    assert LINK_TEXT["cause"] not in page and LINK_TEXT["chained"] not in page
    members = re.findall(r'style="margin-left: (\d+)em" data-depth="(\d)"', page)
    assert members == [("0", "0"), ("2", "1"), ("2", "1"), ("2", "1")]


def test_the_entry_says_it_was_unhandled_and_by_what(client, viewer):
    client.force_login(viewer)
    page = squeeze(entry_page(client, sentry_entry()))
    assert re.search(r"Handled:</label> <div class=\"readonly\">unhandled \(django\)</div>", page)
    assert '<span class="fl-tag fl-tag-unhandled">unhandled</span>' in page


def test_an_entry_without_exceptions_shows_its_text_trace_as_before(client, viewer):
    client.force_login(viewer)
    entry = ErrorLogEntryFactory(stack_trace='Traceback (most recent call last):\n  File "x.py"')
    page = entry_page(client, entry)
    assert 'id="fl-trace"' not in page and "Traceback (most recent call last)" in page
