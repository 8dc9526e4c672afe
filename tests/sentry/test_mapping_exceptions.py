"""Sentry event → the entry's exceptions: the tree, link texts, frame context, handled
(pure: no database). The shapes are the ones sentry-python 2.x sends
(utils.exceptions_from_error), checked against the real SDK in test_python_sdk_traces.py."""

from resilience.core import safe_json
from resilience.core.exception_tree import LINK_TEXT, exception_parents
from resilience.core.frame_context import (
    CONTEXT_BUDGET,
    MAX_CONTEXT_LINE,
    MAX_VAR_VALUE,
    MAX_VARS,
)
from resilience.sentry.mapping import map_event

EID = "9ec79c33ec9942ab8353589fcb2e04dc"


def frame(function, *, in_app=True, lineno=10, **more):
    return {"module": f"app.{function}", "function": function, "filename": f"app/{function}.py",
            "lineno": lineno, "in_app": in_app, **more}


def value(type_, message="", *, frames=(), **mechanism):
    return {"type": type_, "value": message, "mechanism": {"type": "generic", **mechanism},
            "stacktrace": {"frames": list(frames)}}


def event(*values, **more):
    return {"event_id": EID, "platform": "python", "exception": {"values": list(values)}, **more}


def group_event():
    """`raise ExceptionGroup("many", [ValueError (raised while handling a KeyError),
    TypeError]) from RuntimeError("root")`, as sentry-python sends it: the preorder list
    reversed, and the context's parent_id 0 (the SDK passes no parent_id for it)."""
    return event(
        value("TypeError", "t", type="chained", exception_id=4, parent_id=0,
              source="exceptions[1]"),
        value("KeyError", "'x'", frames=[frame("lookup")], type="chained", exception_id=3,
              parent_id=0, source="__context__"),
        value("ValueError", "while handling", frames=[frame("parse")], type="chained",
              exception_id=2, parent_id=0, source="exceptions[0]"),
        value("RuntimeError", "root", type="chained", exception_id=1, parent_id=0,
              source="__cause__"),
        value("ExceptionGroup", "many", frames=[frame("run")], exception_id=0,
              is_exception_group=True, handled=True),
    )


def test_a_context_is_labelled_as_raised_during_handling_and_a_cause_as_the_direct_cause():
    context = map_event(event(value("KeyError", "'x'", source="__context__"),
                              value("ValueError", "bad")))
    assert LINK_TEXT["context"] in context.report["stack_trace"]
    assert "direct cause" not in context.report["stack_trace"]
    cause = map_event(event(value("KeyError", "'x'", source="__cause__"), value("ValueError")))
    assert LINK_TEXT["cause"] in cause.report["stack_trace"]
    # JavaScript's error.cause is always explicit.
    js = map_event(event(value("Error", "refused", source="cause"), value("Error", "failed")))
    assert LINK_TEXT["cause"] in js.report["stack_trace"]


def test_a_chain_the_sdk_did_not_label_is_not_called_a_direct_cause():
    mapped = map_event(event(value("KeyError", "'x'"), value("ValueError", "bad")))
    assert LINK_TEXT["chained"] in mapped.report["stack_trace"]
    assert [e["link"] for e in mapped.extra["exceptions"]] == ["chained", None]


def test_an_exception_group_is_a_tree_with_its_members_under_it():
    values = group_event()["exception"]["values"]
    # TypeError and ValueError belong to the group; KeyError to ValueError (right after
    # it, not to its parent_id 0); RuntimeError is the group's cause.
    assert exception_parents(values) == [4, 2, 4, 4, None]
    exceptions = map_event(group_event()).extra["exceptions"]
    assert [(e["type"], e["parent"], e["link"], e.get("member")) for e in exceptions] == [
        ("TypeError", 4, "member", 1),
        ("KeyError", 2, "context", None),
        ("ValueError", 4, "member", 0),
        ("RuntimeError", 4, "cause", None),
        ("ExceptionGroup", None, None, None),
    ]
    assert exceptions[-1]["mechanism"]["is_exception_group"] is True


def test_the_text_trace_nests_the_members_as_python_prints_them_not_as_a_chain():
    lines = map_event(group_event()).report["stack_trace"].splitlines()
    assert lines[0] == "RuntimeError: root"
    assert lines[2] == LINK_TEXT["cause"]
    group_at = lines.index("ExceptionGroup: many")
    assert lines[group_at + 1] == "  +-+---------------- 1 ----------------"
    member_lines = lines[group_at + 2:]
    assert member_lines.index("    | KeyError: 'x'") < member_lines.index(
        "    | " + LINK_TEXT["context"]) < member_lines.index("    | ValueError: while handling")
    assert "    +---------------- 2 ----------------" in member_lines
    assert member_lines[-2:] == ["    | TypeError: t", "    +------------------------------------"]
    # No member is called the cause of another.
    assert lines.count(LINK_TEXT["cause"]) == 1


def test_frames_keep_their_source_lines_and_variables_within_bounds():
    raw = frame(
        "charge",
        pre_context=[f"line {n}" for n in range(8)],
        context_line="x" * 1000 + "\x00",
        post_context=[f"after {n}" for n in range(8)],
        vars={**{f"v{n}": "'short'" for n in range(MAX_VARS + 10)},
              "v0": "y" * 2000, "v1": {"nested": [1, 2]}, "v2": "bad \udc80 text"},
    )
    [detail] = map_event(event(value("ValueError", "bad", frames=[raw]))).extra[
        "exceptions"][0]["frames"]
    assert detail["pre_context"] == [f"line {n}" for n in range(3, 8)]  # the nearest 5
    assert detail["post_context"] == [f"after {n}" for n in range(5)]
    assert detail["context_line"] == "x" * MAX_CONTEXT_LINE
    assert len(detail["vars"]) == MAX_VARS
    assert detail["vars"]["v0"] == "y" * MAX_VAR_VALUE
    assert detail["vars"]["v1"] == '{"nested": [1, 2]}'
    assert detail["vars"]["v2"] == "bad \ufffd text"
    assert (detail["lineno"], detail["in_app"]) == (10, True)


def test_text_postgresql_refuses_is_repaired_in_every_part_built_from_a_frame():
    # The mapping walks again only what it keeps as the SDK sent it (contexts, request,
    # user, extra); frames, their context and the exception tree are storable as built.
    bad = "a\x00b\ud800c"
    raw = {"module": bad, "function": bad, "filename": bad, "abs_path": bad, "lineno": 3,
           "pre_context": [bad, "ok"], "context_line": bad, "post_context": [bad],
           "vars": {bad: bad, "n": [bad]}}
    mapped = map_event(event(value(bad, bad, frames=[raw], type=bad),
                             contexts={"app": {bad: bad}}, extra={"note": bad}))
    assert safe_json.check(mapped.extra) is mapped.extra
    fixed = "a\ufffdb\ufffdc"
    [part] = mapped.extra["exceptions"]
    assert (part["type"], part["value"], part["mechanism"]["type"]) == (fixed,) * 3
    [detail] = part["frames"]
    assert [detail[k] for k in ("module", "function", "filename", "context_line")] == [fixed] * 4
    assert (detail["pre_context"], detail["post_context"]) == ([fixed, "ok"], [fixed])
    assert detail["vars"] == {fixed: fixed, "n": '["a\\u0000b\ufffdc"]'}
    assert mapped.extra["frames"][0]["module"] == fixed
    assert mapped.extra["contexts"] == {"app": {fixed: fixed}}
    assert mapped.extra["extra"] == {"note": fixed}


def test_source_lines_kept_as_sent_only_when_all_of_them_need_nothing():
    # Lines that are all short ASCII text are kept as they came; any other line (not text,
    # too long, NUL, not ASCII) sends the whole frame through the line-by-line rules.
    def lines(pre, post=()):
        raw = frame("f", pre_context=list(pre), context_line="x", post_context=list(post))
        [detail] = map_event(event(value("ValueError", frames=[raw]))).extra[
            "exceptions"][0]["frames"]
        return detail["pre_context"], detail["post_context"]

    assert lines(["a", "b"], ["c"]) == (["a", "b"], ["c"])
    assert lines(["a", 7, "b", "c", "d", "e", "f"]) == (["b", "c", "d", "e", "f"], [])
    assert lines([None, "a"], ["b", {"c": 1}, "d"]) == (["a"], ["b", "d"])
    assert lines(["a", "b\x00"], ["\u00e9\ud800"]) == (["a", "b\ufffd"], ["\u00e9\ufffd"])
    long = "y" * 200  # each within MAX_CONTEXT_LINE, together over it
    assert lines([long, long, "z" * 400]) == ([long, long, "z" * MAX_CONTEXT_LINE], [])


def test_variables_kept_as_sent_only_when_they_need_nothing():
    raw = frame("f", vars={"ok": "'short'", "n" * 150: "1", "nul": "a\x00", "long": "v" * 600,
                           "obj": {"k": [1]}, "u": "\u00e9"})
    [detail] = map_event(event(value("ValueError", frames=[raw]))).extra["exceptions"][0][
        "frames"]
    assert detail["vars"] == {"ok": "'short'", "n" * 100: "1", "nul": "a\ufffd",
                              "long": "v" * MAX_VAR_VALUE, "obj": '{"k": [1]}', "u": "\u00e9"}


def test_the_context_budget_goes_to_the_innermost_frames_first():
    big = {"vars": {f"v{n}": "z" * MAX_VAR_VALUE for n in range(MAX_VARS)}, "context_line": "x"}
    count = CONTEXT_BUDGET // (MAX_VARS * MAX_VAR_VALUE) + 3
    frames = [frame(f"f{n}", **big) for n in range(count)]
    mapped = map_event(event(value("ValueError", "bad", frames=frames)))
    kept = [("vars" in f) for f in mapped.extra["exceptions"][0]["frames"]]
    assert kept[-1] and not kept[0]
    assert kept == sorted(kept)  # an unbroken run of the innermost ones
    assert mapped.extra["context_trimmed"] is True


def test_unhandled_when_any_mechanism_says_so_with_its_type():
    crash = map_event(event(value("KeyError", source="__context__", handled=False,
                                  type="excepthook"),
                            value("ValueError", handled=False, type="excepthook")))
    assert (crash.extra["unhandled"], crash.extra["mechanism"]) == (True, "excepthook")
    handled = map_event(event(value("ValueError", handled=True)))
    assert (handled.extra["unhandled"], handled.extra["mechanism"]) == (False, "generic")
    unknown = map_event(event({"type": "ValueError", "value": "no mechanism"}))
    assert "unhandled" not in unknown.extra and "mechanism" not in unknown.extra
