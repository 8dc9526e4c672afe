import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core.grouping import (
    DEFAULT_PLACEHOLDER,
    Frame,
    culprit,
    default_grouping_key,
    fingerprint,
    group_title,
    normalise_message,
    parse_stack_trace,
)

PY_TRACE = """Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/django/core/handlers/base.py", line 197, in _get_response
    response = wrapped_callback(request, *callback_args, **callback_kwargs)
  File "/srv/app/orders/views.py", line {line}, in {func}
    return charge(order)
  File "/srv/app/billing/client.py", line 12, in charge
    raise KeyError(order.id)
             ^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/usr/lib/python3.11/socket.py", line 830, in create_connection
KeyError: 'order_id'
"""

NODE_TRACE = """TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users/service.js:{line}:15)
    at async Router.handle (/app/node_modules/express/lib/router/index.js:284:7)
    at /app/src/routes.js:10:3
    at new Promise (<anonymous>)
    at async Promise.all (index 0)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
"""


def py_frames(line: int = 40, func: str = "create_order") -> list[Frame]:
    return parse_stack_trace(PY_TRACE.format(line=line, func=func))


def key_fp(frames: list[Frame], name: str = "KeyError", message: str = "x") -> str:
    return fingerprint(
        custom=None, name=name, code=None, operation=None, message=message, frames=frames
    )


# --- parsing --------------------------------------------------------------------------


def test_parse_python_traceback() -> None:
    frames = py_frames()
    assert [(f.module, f.function, f.in_app) for f in frames] == [
        ("django.core.handlers.base", "_get_response", False),
        ("orders.views", "create_order", True),
        ("billing.client", "charge", True),
        ("importlib._bootstrap", "_gcd_import", False),
        ("socket", "create_connection", False),
    ]
    assert frames[1].filename == "/srv/app/orders/views.py"


def test_parse_node_stack_innermost_last() -> None:
    frames = parse_stack_trace(NODE_TRACE.format(line=7))
    assert [(f.module, f.function, f.in_app) for f in frames] == [
        ("internal.process.task_queues", "process.processTicksAndRejections", False),
        ("src.routes", "<anonymous>", True),
        ("express.lib.router.index", "Router.handle", False),
        ("users.service", "getUser", True),
    ]
    assert frames[-1].filename == "/app/src/users/service.js"


def test_parse_python_module_level_and_windows_paths() -> None:
    frames = parse_stack_trace(
        'File "C:\\app\\jobs\\run.py", line 3, in <module>\n'
        'File "/x/dist-packages/pkg/mod.py", line 1, in f\n'
    )
    assert frames[0] == Frame("jobs.run", "<module>", "C:/app/jobs/run.py", True)
    assert frames[1].module == "pkg.mod" and frames[1].in_app is False


def test_parse_skips_junk_lines() -> None:
    assert parse_stack_trace("hello\n  at nothing useful\nFile x line y") == []
    assert parse_stack_trace("") == []
    assert parse_stack_trace(None) == []  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_text(text: str) -> None:
    for frame in parse_stack_trace(text):
        assert isinstance(frame, Frame)


def test_a_memo_of_lines_reads_every_trace_as_without_one() -> None:
    memo: dict = {}
    traces = [PY_TRACE.format(line=40, func="create_order"),
              PY_TRACE.format(line=41, func="create_order"),
              PY_TRACE.format(line=40, func="update_order"),
              NODE_TRACE.format(line=7), NODE_TRACE.format(line=7), "not a trace"]
    for text in traces * 2:
        assert parse_stack_trace(text, memo=memo) == parse_stack_trace(text)
    # Each distinct line was read once; lines that are no frame are remembered as such.
    assert memo['  File "/srv/app/billing/client.py", line 12, in charge'][1].function == (
        "charge")
    assert memo["KeyError: 'order_id'"] is None


_mixed_traces = st.lists(st.lists(st.sampled_from([
    '  File "/a/b.py", line 1, in f', '  File "/a/c.py", line 2, in g',
    "    at h (/x/y.js:1:2)", "    at /x/z.js:3:4", "Error: boom", "",
])).map("\n".join), max_size=6)


@settings(max_examples=200, deadline=None)
@given(_mixed_traces)
def test_a_shared_memo_never_changes_a_reading(texts: list[str]) -> None:
    memo: dict = {}
    for text in texts:
        assert parse_stack_trace(text, memo=memo) == parse_stack_trace(text)


_tracey = st.lists(
    st.sampled_from(['  File "', '", line ', ", in ", "    at ", " (", ")", ":", "1", "a.js", "\n"])
    | st.text(max_size=5)
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_tracey)
def test_parse_never_raises_on_trace_like_junk(text: str) -> None:
    parse_stack_trace(text)


# --- message normalisation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("user 123 not found", "user 456 not found"),
        (
            "order 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed",
            "order 6F9619FF-8B86-D011-B42D-00C04FC964FF failed",
        ),
        ("object deadbeef1234 missing", "object 0x7f3a2b missing"),
        ("mail to alice@example.com bounced", "mail to bob.smith+x@corp.example.org bounced"),
        ("connect 10.0.0.1:5432 refused", "connect 192.168.1.20:6379 refused"),
        ("expired at 2024-01-02T03:04:05Z", "expired at 2025-12-31 23:59:59.123+02:00"),
        ("bad value 'abc'", "bad value 'xyz'"),
        ('column "a" missing', 'column "bbb" missing'),
        ("  spaced\n\tout   text ", "spaced out text"),
    ],
)
def test_normalised_messages_match(a: str, b: str) -> None:
    assert normalise_message(a) == normalise_message(b)


def test_normalise_placeholders() -> None:
    text = (
        "user 42 <a@b.io> from 1.2.3.4 id 1b4e28ba-2fa1-11d2-883f-0016d3cca427 "
        "hash cafebabe99 on 2024-05-06 said 'hi' and can't stop"
    )
    assert normalise_message(text) == (
        "user <n> <<email>> from <ip> id <uuid> hash <hex> on <date> said '<str>' and can't stop"
    )


def test_normalise_keeps_words_and_caps_length() -> None:
    assert normalise_message("utf8 codec v2") == "utf8 codec v2"
    assert len(normalise_message("word " * 1000)) == 500
    assert normalise_message(None) == ""  # type: ignore[arg-type]


def test_different_messages_differ() -> None:
    assert normalise_message("user not found") != normalise_message("order not found")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("upstream timed out after 30s", "upstream timed out after 31s"),
        ("upstream timed out after 30s", "upstream timed out after 1500ms"),
        ("deadline exceeded after 2m30s", "deadline exceeded after 1.5s"),
        ("payload of 2.5 MB rejected", "payload of 700 MB rejected"),
        ("buffer 64KiB full", "buffer 128kib full"),
        ("export took 3.2 seconds", "export took 41 seconds"),
    ],
)
def test_numbers_with_units_normalise_to_one_message(a: str, b: str) -> None:
    assert normalise_message(a) == normalise_message(b)


def test_units_keep_the_words_around_them() -> None:
    assert normalise_message("timed out after 30s") == "timed out after <duration>"
    assert normalise_message("chunk of 64KiB") == "chunk of <size>"
    assert normalise_message("2.5 MB left") == "<n> MB left"  # the unit is a word: kept
    # Words that merely hold digits are not values.
    assert normalise_message("sha256 s3 h2 ipv4 1st 3x") == "sha256 s3 h2 ipv4 1st 3x"
    assert normalise_message("read timed out after 30s") != \
        normalise_message("write timed out after 30s")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalise_never_raises(text: str) -> None:
    assert len(normalise_message(text)) <= 500


# --- grouping keys and fingerprints --------------------------------------------------------


def test_default_key_uses_type_and_in_app_frames_without_line_numbers() -> None:
    key = default_grouping_key(
        name="KeyError", code="X", operation="op", message="m", frames=py_frames()
    )
    assert key == ["KeyError", "orders.views:create_order", "billing.client:charge"]


def test_default_key_falls_back_to_all_frames_when_none_in_app() -> None:
    frames = [Frame("lib.a", "f", "/x/site-packages/lib/a.py", False)]
    key = default_grouping_key(name="E", code=None, operation=None, message=None, frames=frames)
    assert key == ["E", "lib.a:f"]


def test_default_key_without_frames_uses_code_operation_message() -> None:
    key = default_grouping_key(
        name="Error", code="ECONNREFUSED", operation="db.query", message="port 5432", frames=[]
    )
    assert key == ["ECONNREFUSED", "db.query", "port <n>"]


def test_default_key_without_frames_or_code_uses_type() -> None:
    key = default_grouping_key(
        name="ValueError", code=None, operation=None, message=None, frames=[]
    )
    assert key == ["ValueError", "", ""]


def test_recursion_frames_collapse() -> None:
    f = Frame("tree", "walk", "tree.py", True)
    short = default_grouping_key(name="E", code=None, operation=None, message=None, frames=[f] * 3)
    deep = default_grouping_key(name="E", code=None, operation=None, message=None, frames=[f] * 90)
    assert short == deep == ["E", "tree:walk"]


def test_fingerprint_is_sha256_hex() -> None:
    fp = key_fp(py_frames())
    assert re.fullmatch(r"[0-9a-f]{64}", fp)


def test_same_error_different_line_numbers_same_fingerprint() -> None:
    assert key_fp(py_frames(line=40)) == key_fp(py_frames(line=99))
    node_a = parse_stack_trace(NODE_TRACE.format(line=1))
    node_b = parse_stack_trace(NODE_TRACE.format(line=500))
    assert key_fp(node_a, "TypeError") == key_fp(node_b, "TypeError")


def test_message_ignored_when_frames_present() -> None:
    assert key_fp(py_frames(), message="a") == key_fp(py_frames(), message="totally different")


def test_different_function_different_fingerprint() -> None:
    assert key_fp(py_frames(func="create_order")) != key_fp(py_frames(func="cancel_order"))


def test_different_type_different_fingerprint() -> None:
    assert key_fp(py_frames(), "KeyError") != key_fp(py_frames(), "ValueError")


def test_messages_differing_only_in_ids_same_fingerprint() -> None:
    def fp(message: str) -> str:
        return fingerprint(
            custom=None, name=None, code="E_NOUSER", operation="load", message=message, frames=[]
        )

    assert fp("user 123 not found") == fp("user 456 not found")
    assert fp("user 123 not found") != fp("order 123 not found")


def test_custom_fingerprint_overrides_default() -> None:
    a = fingerprint(
        custom=["billing-outage"],
        name="KeyError",
        code=None,
        operation=None,
        message="a",
        frames=py_frames(func="f1"),
    )
    b = fingerprint(
        custom=["billing-outage"],
        name="TypeError",
        code="X",
        operation="y",
        message="b",
        frames=[],
    )
    assert a == b
    assert a != key_fp(py_frames(func="f1"))


def test_custom_fingerprint_as_plain_string() -> None:
    kwargs = {"name": None, "code": None, "operation": None, "message": None, "frames": []}
    assert fingerprint(custom="abc", **kwargs) == fingerprint(custom=["abc"], **kwargs)


def test_default_placeholder_expands() -> None:
    frames = py_frames()

    def fp(custom: list[str] | None) -> str:
        return fingerprint(
            custom=custom, name="KeyError", code=None, operation=None, message="", frames=frames
        )

    assert DEFAULT_PLACEHOLDER == "{{ default }}"
    assert fp([DEFAULT_PLACEHOLDER]) == fp(None)
    assert fp(["{{default}}"]) == fp(None)
    tenant_a, tenant_b = (
        fp([DEFAULT_PLACEHOLDER, "tenant-a"]),
        fp([DEFAULT_PLACEHOLDER, "tenant-b"]),
    )
    assert tenant_a != tenant_b != fp(None)
    # the expansion really contains the default parts, not the literal placeholder
    assert fp([DEFAULT_PLACEHOLDER, "t"]) != fp(["{{ nope }}", "t"])


def test_empty_custom_uses_default() -> None:
    assert fingerprint(
        custom=[], name="KeyError", code=None, operation=None, message="x", frames=py_frames()
    ) == key_fp(py_frames())


def test_fingerprint_is_versioned() -> None:
    fp = fingerprint(
        custom=["a", "b"], name=None, code=None, operation=None, message=None, frames=[]
    )
    assert fp == hashlib.sha256(b"v1\x1fa\x1fb").hexdigest()


# --- title and culprit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "message", "title"),
    [
        ("KeyError", "X", "'order_id'\nmore lines", "KeyError: 'order_id'"),
        (None, "ECONNREFUSED", "connect failed", "ECONNREFUSED: connect failed"),
        (None, None, "boom", "Error: boom"),
        ("TypeError", None, None, "TypeError"),
        (None, None, None, "Error"),
        ("", "", "  \n  ", "Error"),
    ],
)
def test_group_title(name: str | None, code: str | None, message: str | None, title: str) -> None:
    assert group_title(name=name, code=code, message=message) == title


def test_a_message_is_titled_by_itself() -> None:
    assert group_title(name=None, code=None, message="cache warmed\nmore",
                       message_only=True) == "cache warmed"
    assert group_title(name=None, code="503", message="upstream slow",
                       message_only=True) == "upstream slow"
    assert group_title(name=None, code=None, message="", message_only=True) == "Error"


def test_group_title_capped() -> None:
    title = group_title(name="E", code=None, message="x" * 1000)
    assert len(title) == 255 and title.startswith("E: xxx")


def test_culprit_is_innermost_in_app_frame() -> None:
    assert culprit(py_frames(), "op") == "billing.client in charge"
    node = parse_stack_trace(NODE_TRACE.format(line=3))
    assert culprit(node, None) == "users.service in getUser"


def test_culprit_falls_back_to_operation_then_empty() -> None:
    library_only = [Frame("lib", "f", "/site-packages/lib.py", False)]
    assert culprit(library_only, "checkout.charge") == "checkout.charge"
    assert culprit([], None) == ""


def test_culprit_uses_filename_when_module_empty_and_caps() -> None:
    assert culprit([Frame("", "f", "a.py", True)], None) == "a.py in f"
    assert len(culprit([Frame("m" * 400, "f", "a.py", True)], None)) == 255
