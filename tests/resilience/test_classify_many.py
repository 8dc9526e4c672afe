"""A batch classified once per distinct input (classification.classify_many): the same
verdicts as classify() report by report (pure: no database)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core.classification import (
    Category,
    Rule,
    Severity,
    classification_key,
    classify,
    classify_many,
)

# Values the classifier reads differently though Python may call them equal or alike:
# 1 and True, 503 and "503" and 503.0, names with spaces, wrappers, the seed's
# non-retryable statuses, and values that cannot be a key.
CODES = [None, "", " ", "ECONNREFUSED", " ECONNREFUSED ", "503", 503, 503.0, "401", 401, 1,
         True, False, "fetch failed", "urllib3.exceptions.MaxRetryError",
         "psycopg2.OperationalError", "econnreset", "NOT_A_CODE", [], {"a": 1}]
NAMES = [None, "", "TypeError", " TypeError ", "KeyError", "ConnectionError", 1, True,
         "MaxRetryError"]
STATUSES = [None, 503, "503", " 503", 401, "401", 404, True, 503.0, "abc", 10**30]
ERRNOS = [None, 111, -111, "111", "ECONNREFUSED", True, 0, 10**30, "", 12.5]
MESSAGES = [None, "fetch failed", "fetch failed ", "connection refused", 7]


def levels(cause):
    return st.fixed_dictionaries(
        {},
        optional={
            "code": st.sampled_from(CODES),
            "name": st.sampled_from(NAMES),
            "status": st.sampled_from(STATUSES),
            "errno": st.sampled_from(ERRNOS),
            "message": st.sampled_from(MESSAGES),
            "stack_trace": st.sampled_from(["", "Traceback …", None]),
            "cause": cause,
        },
    )


REPORTS = st.recursive(
    st.one_of(st.none(), st.just("not a report"), levels(st.none())),
    levels,
    max_leaves=12,
)
RULES = st.sampled_from([
    None,
    {},
    {"ECONNREFUSED": Rule(Category.SECURITY)},
    {"KeyError": Rule(Category.TRANSIENT, Severity.CRITICAL), "503": Rule(Category.PERMANENT)},
    "not rules",
])


@settings(max_examples=400, deadline=None)
@given(
    pool=st.lists(REPORTS, min_size=1, max_size=6),
    picks=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30),
    rules=RULES,
    by_cause=st.booleans(),
    max_depth=st.sampled_from([0, 1, 2, 8]),
)
def test_a_batch_gets_the_verdicts_each_report_gets_alone(pool, picks, rules, by_cause,
                                                          max_depth):
    # Drawn from a small pool, so the batch repeats inputs as real batches do.
    reports = [pool[pick % len(pool)] for pick in picks]
    assert classify_many(reports, rules, by_cause=by_cause, max_depth=max_depth) == [
        classify(report, rules, by_cause=by_cause, max_depth=max_depth) for report in reports
    ]


def test_reports_that_read_the_same_share_one_verdict():
    first = {"code": "ECONNREFUSED", "message": "refused for order 1", "stack_trace": "a"}
    second = {"code": "ECONNREFUSED", "message": "refused for order 2", "stack_trace": "b"}
    verdicts = classify_many([first, second])
    assert verdicts[0] is verdicts[1]


def test_values_python_calls_equal_are_told_apart():
    assert classification_key({"code": 1}) != classification_key({"code": True})
    assert classification_key({"status": 503}) != classification_key({"status": 503.0})
    one, true = classify_many([{"code": 1}, {"code": True}])
    assert (one.code, true.code) == ("1", "UNKNOWN_ERROR")


def test_a_cause_is_part_of_what_is_read():
    wrapped = {"name": "TypeError", "message": "fetch failed", "cause": {"code": "ECONNRESET"}}
    alone = {"name": "TypeError", "message": "fetch failed"}
    assert classification_key(wrapped) != classification_key(alone)
    first, second = classify_many([wrapped, alone])
    assert first.category == Category.TRANSIENT
    assert second.category == Category.EXTERNAL_DEPENDENCY


def test_a_value_that_cannot_be_a_key_is_classified_alone():
    assert classification_key({"code": ["ECONNREFUSED"]}) is None
    assert classify_many([{"code": ["x"]}, {"code": "ECONNREFUSED"}])[1].category == \
        Category.TRANSIENT
