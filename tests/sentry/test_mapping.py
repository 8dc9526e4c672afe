"""Sentry event → report (pure: no database)."""

from datetime import UTC, datetime

import pytest

from resilience.core.grouping import Frame, fingerprint
from resilience.core.report_schema import MAX_CAUSE_DEPTH, validate_report
from resilience.sentry.mapping import EventError, level_at_least, map_event, normalise_event_id
from tests.sentry.envelopes import exception_event

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EID = "9ec79c33ec9942ab8353589fcb2e04dc"


def frame(module, function, *, lineno=1, in_app=True, **more):
    return {"module": module, "function": function, "filename": module.replace(".", "/") + ".py",
            "lineno": lineno, "in_app": in_app, **more}


def chained_event():
    """raise PaymentError(...) from ConnectionRefusedError(...), as the Python SDK sends it."""
    return {
        "event_id": EID,
        "platform": "python",
        "level": "error",
        "exception": {"values": [
            {"type": "ConnectionRefusedError", "value": "[Errno 111] Connection refused",
             "mechanism": {"type": "chained", "source": "__cause__"},
             "stacktrace": {"frames": [frame("app.db", "connect", lineno=5,
                                             context_line="sock.connect(addr)")]}},
            {"type": "PaymentError", "module": "app.errors", "value": "charge failed",
             "mechanism": {"type": "generic", "handled": True},
             "stacktrace": {"frames": [
                 frame("app.views", "create_order", lineno=10, context_line="charge(order)"),
                 frame("django.core.handlers", "inner", in_app=False),
                 frame("app.payments", "charge", lineno=20),
             ]}},
        ]},
    }


def test_the_last_exception_is_the_raised_one_and_earlier_ones_its_causes():
    mapped = map_event(chained_event())
    report = mapped.report
    assert report["event_id"] == EID
    assert report["name"] == "app.errors.PaymentError"  # module prefix
    assert report["message"] == "charge failed"
    assert report["cause"] == {
        "name": "ConnectionRefusedError",
        "message": "[Errno 111] Connection refused",
        "stack_trace": (
            "Traceback (most recent call last):\n"
            '  File "app/db.py", line 5, in connect\n'
            "    sock.connect(addr)\n"
            "ConnectionRefusedError: [Errno 111] Connection refused"
        ),
    }
    validate_report(report, where="report", now=NOW)  # the schema takes it as it is


def test_the_stack_trace_is_one_readable_traceback_oldest_frame_first():
    text = map_event(chained_event()).report["stack_trace"]
    assert text.splitlines() == [
        "Traceback (most recent call last):",
        '  File "app/db.py", line 5, in connect',
        "    sock.connect(addr)",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "app/views.py", line 10, in create_order',
        "    charge(order)",
        '  File "django/core/handlers.py", line 1, in inner',
        '  File "app/payments.py", line 20, in charge',
        "app.errors.PaymentError: charge failed",
    ]


def test_frames_for_grouping_have_no_line_numbers_so_an_edit_does_not_split_the_group():
    first = map_event(chained_event())
    moved = chained_event()
    for f in moved["exception"]["values"][-1]["stacktrace"]["frames"]:
        f["lineno"] += 7
        f["context_line"] = "changed"
    second = map_event(moved)
    assert first.extra["frames"] == second.extra["frames"]
    assert first.extra["frames"][0] == {"module": "app.views", "function": "create_order",
                                        "filename": "app/views.py", "in_app": True}
    assert set(first.extra["frames"][1]) == {"module", "function", "filename", "in_app"}

    def fp(mapped):
        frames = [Frame(**f) for f in mapped.extra["frames"]]
        return fingerprint(custom=None, name=mapped.report["name"], code=None, operation=None,
                           message=mapped.report["message"], frames=frames)

    assert fp(first) == fp(second)


def test_frames_without_module_or_in_app_get_the_text_parsers_names():
    event = exception_event(eid=EID, platform="javascript")
    event["exception"]["values"][0]["stacktrace"]["frames"] = [
        {"filename": "/srv/releases/42/node_modules/pg/lib/client.js", "function": "connect"},
        {"abs_path": "/srv/releases/42/src/orders/create.js", "function": "createOrder"},
    ]
    frames = map_event(event).extra["frames"]
    assert frames[0]["module"] == "pg.lib.client" and frames[0]["in_app"] is False
    assert frames[1]["module"] == "orders.create" and frames[1]["in_app"] is True


def test_a_long_cause_chain_keeps_the_raised_error_and_the_root_cause():
    values = [{"type": f"E{i}", "value": str(i)} for i in range(12)]  # E0 is the root
    mapped = map_event({"event_id": EID, "exception": {"values": values}})
    chain, node = [], mapped.report["cause"]
    while node:
        chain.append(node["name"])
        node = node.get("cause")
    assert mapped.report["name"] == "E11"
    assert len(chain) == MAX_CAUSE_DEPTH - 1
    assert chain[-1] == "E0"
    validate_report(mapped.report, where="report", now=NOW)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"logentry": {"formatted": "user 7 not found", "message": "user %s not found"}},
         "user 7 not found"),
        ({"logentry": {"message": "user %s not found", "params": [7]}}, "user %s not found"),
        ({"message": "plain text"}, "plain text"),
        ({"message": {"formatted": "old style"}}, "old style"),
    ],
)
def test_a_captured_message_becomes_the_message(event, message):
    mapped = map_event({"event_id": EID, "level": "info", **event})
    assert mapped.report["message"] == message
    assert "name" not in mapped.report and "stack_trace" not in mapped.report
    assert mapped.severity_floor is None


@pytest.mark.parametrize(
    ("level", "floor"),
    [("fatal", "CRITICAL"), ("error", "MEDIUM"), ("warning", None), ("info", None),
     ("debug", None), (None, "MEDIUM")],  # Sentry's default level is error
)
def test_the_level_sets_a_severity_floor(level, floor):
    event = {"event_id": EID, "message": "x"}
    if level:
        event["level"] = level
    mapped = map_event(event)
    assert mapped.severity_floor == floor
    assert mapped.extra["level"] == (level or "error")


@pytest.mark.parametrize(
    ("level", "severity", "floor"),
    [("debug", "LOW", None), ("info", "LOW", None), ("warning", "MEDIUM", None),
     ("warn", "MEDIUM", None), ("log", "LOW", None), ("error", None, "MEDIUM"),
     ("fatal", None, "CRITICAL"), ("critical", None, "CRITICAL"), ("banana", None, "MEDIUM")],
)
def test_a_messages_level_is_its_severity(level, severity, floor):
    mapped = map_event({"event_id": EID, "message": "x", "level": level})
    assert (mapped.severity, mapped.severity_floor) == (severity, floor)
    assert mapped.extra["event_type"] == "message"
    assert mapped.extra["level"] in ("debug", "info", "warning", "error", "fatal")


def test_a_javascript_message_with_a_synthetic_stack_is_a_message():
    event = {"event_id": EID, "level": "info", "message": "cache warmed",
             "exception": {"values": [{
                 "value": "cache warmed", "mechanism": {"type": "generic", "synthetic": True},
                 "stacktrace": {"frames": [frame("app.cache", "warm")]}}]}}
    mapped = map_event(event)
    assert mapped.extra["event_type"] == "message" and mapped.severity == "LOW"
    assert mapped.report["message"] == "cache warmed"
    assert "name" not in mapped.report and "stack_trace" not in mapped.report
    assert mapped.extra["frames"][-1]["function"] == "warm"  # the culprit


def test_an_exceptions_level_only_floors_its_severity():
    event = {"event_id": EID, "level": "info",
             "exception": {"values": [{"type": "ValueError", "value": "bad"}]}}
    mapped = map_event(event)
    assert (mapped.severity, mapped.severity_floor) == (None, None)
    assert mapped.extra["event_type"] == "error"


@pytest.mark.parametrize(
    ("logentry", "template"),
    [
        ({"message": "charge %s failed", "params": ["ord_1"], "formatted": "charge ord_1 failed"},
         "charge %s failed"),
        ({"message": "user %(id)s gone", "params": {"id": 7}}, "user %(id)s gone"),
        ({"message": "charge {} failed", "params": ["ord_1"]}, "charge {} failed"),
        ({"message": "%s", "params": ["anything at all"]}, None),  # no words of its own
        ({"message": "%s: %d", "params": ["x", 1]}, None),
        ({"message": "no params", "formatted": "no params"}, None),
    ],
)
def test_a_log_records_template_is_kept_for_grouping(logentry, template):
    mapped = map_event({"event_id": EID, "level": "error", "logentry": logentry})
    assert mapped.extra.get("message_template") == template
    assert mapped.report["message"] == logentry.get("formatted", logentry["message"])


def test_level_at_least_reads_any_spelling():
    assert level_at_least("warn", "warning") and level_at_least("fatal", "error")
    assert not level_at_least("info", "warning") and not level_at_least("debug", "INFO")
    assert level_at_least("debug", "nonsense")  # an unknown minimum holds nothing back


def test_tags_as_an_object_or_a_list_of_pairs_become_an_object():
    as_pairs = map_event({"event_id": EID, "tags": [["team", "core"], ["retry", 3], ["bad"]]})
    as_object = map_event({"event_id": EID, "tags": {"team": "core", "retry": 3}})
    assert as_pairs.report["tags"] == as_object.report["tags"] == {"team": "core", "retry": "3"}


def test_faultline_fields_can_be_set_through_tags():
    mapped = map_event({"event_id": EID, "tags": {"operation": "payment.charge",
                                                  "component": "checkout"}})
    assert mapped.report["operation"] == "payment.charge"
    assert mapped.report["component"] == "checkout"


def test_everything_else_the_sdk_sends_is_kept_in_extra():
    event = exception_event(
        eid=EID,
        environment="production",
        release="shop@2.1.0",
        server_name="web-3",
        transaction="/orders/{id}",
        timestamp=1748779200.5,
        user={"id": 42, "email": "a@example.com"},
        request={"method": "POST", "url": "https://shop.example/orders"},
        contexts={"runtime": {"name": "CPython", "version": "3.11.7"}},
        sdk={"name": "sentry.python", "version": "2.75.0", "packages": [{"name": "pypi:x"}]},
        extra={"order": 7},
        fingerprint=["{{ default }}", "checkout"],
        logger="shop.orders",
    )
    mapped = map_event(event)
    report = mapped.report
    assert report["environment"] == "production"
    assert report["release"] == "shop@2.1.0"
    assert report["timestamp"] == 1748779200.5
    assert report["user_id"] == "42"
    assert report["fingerprint"] == ["{{ default }}", "checkout"]
    extra = mapped.extra
    assert extra["server_name"] == "web-3"
    assert extra["transaction"] == "/orders/{id}"
    assert extra["user"] == {"id": 42, "email": "a@example.com"}
    assert extra["request"]["url"] == "https://shop.example/orders"
    assert extra["contexts"]["runtime"]["name"] == "CPython"
    assert extra["sdk"] == {"name": "sentry.python", "version": "2.75.0"}
    assert extra["platform"] == "python"
    assert extra["logger"] == "shop.orders"
    assert extra["extra"] == {"order": 7}
    clean = validate_report(report, where="report", now=NOW)
    assert clean["timestamp"] == datetime(2025, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_over_long_text_is_cut_rather_than_refused():
    mapped = map_event({"event_id": EID, "release": "r" * 500, "environment": "e" * 100,
                        "message": "m" * 40_000, "tags": {"t": "v" * 500},
                        "fingerprint": [str(i) * 300 for i in range(20)]})
    validate_report(mapped.report, where="report", now=NOW)


def test_the_envelope_headers_event_id_is_used_when_the_event_has_none():
    mapped = map_event({"message": "x"}, fallback_event_id="9EC79C33-EC99-42AB-8353-589FCB2E04DC")
    assert mapped.event_id == EID


@pytest.mark.parametrize("event_id", [None, "", "short", "zz" * 16, 12345])
def test_an_event_without_a_valid_event_id_is_refused(event_id):
    event = {"message": "x"}
    if event_id is not None:
        event["event_id"] = event_id
    with pytest.raises(EventError, match="event_id"):
        map_event(event)


def test_a_non_object_event_is_refused():
    with pytest.raises(EventError):
        map_event(["not", "an", "event"])


def test_event_ids_are_normalised():
    assert normalise_event_id("9EC79C33EC9942AB8353589FCB2E04DC") == EID
    assert normalise_event_id("nope") is None


# --- error codes where JavaScript SDKs put them ---------------------------------------


def _node_event(values, **more):
    return {"event_id": "a" * 32, "platform": "node", "exception": {"values": values}, **more}


@pytest.mark.parametrize(("message", "code"), [
    ("getaddrinfo ENOTFOUND db.x", "ENOTFOUND"),
    ("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"),
    ("read ECONNRESET", "ECONNRESET"),
    ("ENOSPC: no space left on device, write", "ENOSPC"),
])
def test_a_node_system_error_message_gives_its_code(message, code):
    mapped = map_event(_node_event([{"type": "Error", "value": message}]))
    assert mapped.report["code"] == code


def test_a_message_code_is_only_read_on_node():
    event = _node_event([{"type": "Error", "value": "connect ECONNREFUSED 1.2.3.4:5"}],
                        platform="python")
    assert "code" not in map_event(event).report


def test_ordinary_messages_give_no_code():
    for text in ("Error connecting", "EOF reached", "connect to db failed", "read ETIMEDOUTx",
                 "ECONNRESET"):
        assert "code" not in map_event(_node_event([{"type": "Error", "value": text}])).report


def test_extra_error_data_codes_for_the_error_and_its_cause():
    values = [{"type": "Error", "value": "socket closed"},
              {"type": "Error", "value": "charging failed"}]
    contexts = {"Error": {"code": "E_CHARGE", "cause": {"Error": {"code": "ECONNRESET"}}}}
    mapped = map_event(_node_event(values, contexts=contexts))
    assert mapped.report["code"] == "E_CHARGE"
    assert mapped.report["cause"]["code"] == "ECONNRESET"


def test_odd_error_data_codes_are_ignored():
    contexts = {"Error": {"code": "has spaces in it"}}
    mapped = map_event(_node_event([{"type": "Error", "value": "x"}], contexts=contexts))
    assert "code" not in mapped.report


def test_what_the_sdk_sent_is_repaired_unless_the_event_was_parsed_by_safe_json():
    """The endpoints' events come from safe_json.loads(text="replace"), already storable:
    `parsed` keeps their contexts as they are, any other caller's are walked and repaired."""
    contexts = {"app": {"k": "v\u0000"}}
    event = exception_event(contexts=contexts)
    assert map_event(event).extra["contexts"] == {"app": {"k": "v\ufffd"}}
    assert map_event(event, parsed=True).extra["contexts"] is contexts
