import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.classification import (
    DEFAULT_RULES,
    SEVERITY_RANK,
    Category,
    Classification,
    Rule,
    Severity,
    classify,
    error_code,
    max_severity,
)

C, S = Category, Severity

# Literal copy of the spec table: the test must be able to disagree with DEFAULT_RULES.
EXPECTED = {
    # Faultline's own escalation code (the in-process guard)
    "FAULTLINE_HANDLER_FAILURE": (C.PERMANENT, S.CRITICAL),
    # network / node errno
    "ECONNREFUSED": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "ENOTFOUND": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "ECONNRESET": (C.TRANSIENT, S.MEDIUM),
    "ETIMEDOUT": (C.TRANSIENT, S.MEDIUM),
    "EPIPE": (C.TRANSIENT, S.MEDIUM),
    "EAI_AGAIN": (C.TRANSIENT, S.MEDIUM),
    "ECONNABORTED": (C.TRANSIENT, S.MEDIUM),
    "EHOSTUNREACH": (C.TRANSIENT, S.MEDIUM),
    "ENETUNREACH": (C.TRANSIENT, S.MEDIUM),
    # sequelize
    "SequelizeConnectionError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "SequelizeConnectionRefusedError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "SequelizeHostNotFoundError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "SequelizeHostNotReachableError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "SequelizeConnectionTimedOutError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "SequelizeTimeoutError": (C.TRANSIENT, S.MEDIUM),
    "SequelizeValidationError": (C.BUSINESS_LOGIC, S.LOW),
    "SequelizeUniqueConstraintError": (C.BUSINESS_LOGIC, S.MEDIUM),
    "SequelizeForeignKeyConstraintError": (C.DATA_CORRUPTION, S.HIGH),
    "SequelizeDatabaseError": (C.PERMANENT, S.HIGH),
    "SequelizeAccessDeniedError": (C.CONFIGURATION, S.CRITICAL),
    # redis
    "ReplyError": (C.PERMANENT, S.MEDIUM),
    "AbortError": (C.TRANSIENT, S.MEDIUM),
    "ConnectionTimeoutError": (C.TRANSIENT, S.MEDIUM),
    "RedisConnectionError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "redis.exceptions.ConnectionError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "redis.exceptions.TimeoutError": (C.TRANSIENT, S.MEDIUM),
    "NOAUTH": (C.CONFIGURATION, S.HIGH),
    "WRONGPASS": (C.CONFIGURATION, S.HIGH),
    "OOM": (C.RESOURCE_EXHAUSTION, S.CRITICAL),
    # resources
    "ENOMEM": (C.RESOURCE_EXHAUSTION, S.CRITICAL),
    "EMFILE": (C.RESOURCE_EXHAUSTION, S.HIGH),
    "ENOSPC": (C.RESOURCE_EXHAUSTION, S.CRITICAL),
    # js runtime
    "ValidationError": (C.BUSINESS_LOGIC, S.LOW),
    "TypeError": (C.PERMANENT, S.HIGH),
    "ReferenceError": (C.PERMANENT, S.HIGH),
    "SyntaxError": (C.PERMANENT, S.HIGH),
    "RangeError": (C.PERMANENT, S.MEDIUM),
    # http
    "400": (C.BUSINESS_LOGIC, S.LOW),
    "401": (C.SECURITY, S.HIGH),
    "403": (C.SECURITY, S.HIGH),
    "404": (C.BUSINESS_LOGIC, S.LOW),
    "409": (C.BUSINESS_LOGIC, S.LOW),
    "422": (C.BUSINESS_LOGIC, S.LOW),
    "429": (C.TRANSIENT, S.MEDIUM),
    "500": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "502": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "503": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "504": (C.TRANSIENT, S.MEDIUM),
    # python
    "ConnectionError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "ConnectionRefusedError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "ConnectionAbortedError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "ConnectionResetError": (C.TRANSIENT, S.MEDIUM),
    "BrokenPipeError": (C.TRANSIENT, S.MEDIUM),
    "TimeoutError": (C.TRANSIENT, S.MEDIUM),
    "socket.timeout": (C.TRANSIENT, S.MEDIUM),
    "requests.exceptions.Timeout": (C.TRANSIENT, S.MEDIUM),
    "httpx.TimeoutException": (C.TRANSIENT, S.MEDIUM),
    "celery.exceptions.TimeoutError": (C.TRANSIENT, S.MEDIUM),
    "requests.exceptions.ConnectionError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "httpx.ConnectError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "urllib3.exceptions.MaxRetryError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "OperationalError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "django.db.utils.OperationalError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "psycopg2.OperationalError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "sqlalchemy.exc.OperationalError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "InterfaceError": (C.EXTERNAL_DEPENDENCY, S.HIGH),
    "IntegrityError": (C.DATA_CORRUPTION, S.HIGH),
    "DataError": (C.DATA_CORRUPTION, S.HIGH),
    "DatabaseError": (C.PERMANENT, S.HIGH),
    "PermissionError": (C.SECURITY, S.HIGH),
    "PermissionDenied": (C.SECURITY, S.HIGH),
    "django.core.exceptions.PermissionDenied": (C.SECURITY, S.HIGH),
    "SuspiciousOperation": (C.SECURITY, S.HIGH),
    "ImproperlyConfigured": (C.CONFIGURATION, S.HIGH),
    "ModuleNotFoundError": (C.CONFIGURATION, S.HIGH),
    "ImportError": (C.CONFIGURATION, S.HIGH),
    "KeyError": (C.PERMANENT, S.HIGH),
    "IndexError": (C.PERMANENT, S.HIGH),
    "AttributeError": (C.PERMANENT, S.HIGH),
    "NameError": (C.PERMANENT, S.HIGH),
    "AssertionError": (C.PERMANENT, S.HIGH),
    "NotImplementedError": (C.PERMANENT, S.HIGH),
    "ZeroDivisionError": (C.PERMANENT, S.HIGH),
    "ValueError": (C.BUSINESS_LOGIC, S.LOW),
    "django.core.exceptions.ValidationError": (C.BUSINESS_LOGIC, S.LOW),
    "pydantic.ValidationError": (C.BUSINESS_LOGIC, S.LOW),
    "ObjectDoesNotExist": (C.BUSINESS_LOGIC, S.LOW),
    "DoesNotExist": (C.BUSINESS_LOGIC, S.LOW),
    "Http404": (C.BUSINESS_LOGIC, S.LOW),
    "MemoryError": (C.RESOURCE_EXHAUSTION, S.CRITICAL),
    "RecursionError": (C.RESOURCE_EXHAUSTION, S.HIGH),
    "OSError": (C.PERMANENT, S.MEDIUM),
    "UnicodeDecodeError": (C.DATA_CORRUPTION, S.MEDIUM),
    "JSONDecodeError": (C.DATA_CORRUPTION, S.MEDIUM),
}


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_default_table_entry(code: str, expected: tuple[Category, Severity]) -> None:
    result = classify({"code": code})
    assert (result.category, result.severity) == expected
    assert result.matched is True
    assert result.code == code


def test_default_table_has_no_entries_beyond_the_spec() -> None:
    assert set(DEFAULT_RULES) == set(EXPECTED)


def test_enum_values_are_upper_case_names() -> None:
    assert [c.value for c in Category] == [c.name for c in Category]
    assert [s.value for s in Severity] == [s.name for s in Severity]
    assert Category.TRANSIENT == "TRANSIENT"


def test_severity_rank_and_max() -> None:
    assert [SEVERITY_RANK[s] for s in (S.LOW, S.MEDIUM, S.HIGH, S.CRITICAL)] == [0, 1, 2, 3]
    assert max_severity(S.LOW, S.CRITICAL, S.MEDIUM) is S.CRITICAL
    assert max_severity(S.MEDIUM, "HIGH") is S.HIGH
    assert max_severity() is S.LOW


# --- error_code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({"code": "ECONNREFUSED", "name": "Error", "status": 500, "errno": 5}, "ECONNREFUSED"),
        ({"code": "  ETIMEDOUT \n"}, "ETIMEDOUT"),
        ({"code": 42}, "42"),
        ({"code": "", "name": "TypeError", "status": 500}, "TypeError"),
        ({"code": "   ", "name": " KeyError "}, "KeyError"),
        ({"code": True, "name": "X"}, "X"),  # bool is not an int code
        ({"name": "", "status": 404, "errno": 111}, "404"),
        ({"status": " 503 "}, "503"),
        ({"status": "not-a-number", "errno": 111}, "ECONNREFUSED"),
        ({"errno": 111}, "ECONNREFUSED"),
        ({"errno": -111}, "ECONNREFUSED"),  # Node reports negative errnos
        ({"errno": 999_999}, "999999"),
        ({"errno": " ENOSPC "}, "ENOSPC"),
        ({"code": None, "name": None, "status": None, "errno": None}, None),
        ({"status": True}, None),
        ({}, None),
    ],
)
def test_error_code_source_order(report: dict, expected: str | None) -> None:
    assert error_code(report) == expected


@pytest.mark.parametrize("junk", [None, [], "ECONNREFUSED", 3, 2.5, {"code": {"x": 1}}])
def test_error_code_junk(junk: object) -> None:
    assert error_code(junk) is None  # type: ignore[arg-type]


def test_error_code_huge_int_does_not_raise() -> None:
    assert error_code({"code": 10**5000, "name": "KeyError"}) == "KeyError"


# --- lookups ---------------------------------------------------------------------------


def test_errno_int_classified() -> None:
    result = classify({"errno": 111})
    assert result.code == "ECONNREFUSED"
    assert result.category is C.EXTERNAL_DEPENDENCY and result.matched


def test_status_string_classified() -> None:
    result = classify({"status": "503"})
    assert (result.code, result.category, result.severity) == ("503", C.EXTERNAL_DEPENDENCY, S.HIGH)


def test_lower_case_code_matches_upper_case_rule() -> None:
    result = classify({"code": "econnrefused"})
    assert result.category is C.EXTERNAL_DEPENDENCY and result.matched
    assert result.code == "econnrefused"


def test_names_are_case_sensitive() -> None:
    assert classify({"name": "typeerror"}).matched is False


def test_dotted_name_falls_back_to_last_component() -> None:
    result = classify({"name": "myapp.models.Order.DoesNotExist"})
    assert result.category is C.BUSINESS_LOGIC and result.matched
    assert result.code == "myapp.models.Order.DoesNotExist"


def test_dotted_full_name_wins_over_last_component() -> None:
    rules = {"ConnectionError": Rule(C.PERMANENT, S.LOW)}
    # full name still matches the default even though the bare name was overridden
    assert classify({"name": "redis.exceptions.ConnectionError"}, rules).category is (
        C.EXTERNAL_DEPENDENCY
    )
    assert classify({"name": "other.ConnectionError"}, rules).category is C.PERMANENT


def test_unknown_code() -> None:
    result = classify({"code": "E_SOMETHING_ELSE"})
    assert (result.category, result.severity, result.matched) == (C.PERMANENT, S.MEDIUM, False)
    assert result.code == "E_SOMETHING_ELSE"
    assert result.retryable is False and result.recoverable is True


def test_no_code() -> None:
    result = classify({"message": "something broke"})
    assert (result.category, result.severity) == (C.PERMANENT, S.MEDIUM)
    assert result.code is None and result.matched is False


@pytest.mark.parametrize("junk", [None, [], [{"code": "ECONNREFUSED"}], 1, "ECONNREFUSED", 1.5])
def test_non_mapping_report(junk: object) -> None:
    result = classify(junk)
    assert (result.category, result.severity, result.matched, result.code) == (
        C.PERMANENT,
        S.MEDIUM,
        False,
        None,
    )


# --- overrides -------------------------------------------------------------------------


def test_override_replaces_default() -> None:
    rules = {"ECONNREFUSED": Rule(C.CONFIGURATION, S.CRITICAL)}
    result = classify({"code": "ECONNREFUSED"}, rules)
    assert (result.category, result.severity) == (C.CONFIGURATION, S.CRITICAL)
    # other defaults are still there
    assert classify({"code": "ETIMEDOUT"}, rules).category is C.TRANSIENT
    # and the defaults themselves were not mutated
    assert DEFAULT_RULES["ECONNREFUSED"] == Rule(C.EXTERNAL_DEPENDENCY, S.HIGH)


def test_override_adds_new_code() -> None:
    result = classify({"code": "P2002"}, {"P2002": Rule(C.BUSINESS_LOGIC, S.MEDIUM)})
    assert result.matched and result.category is C.BUSINESS_LOGIC


def test_default_rules_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_RULES["X"] = Rule(C.PERMANENT, S.LOW)  # type: ignore[index]


# --- retryable / recoverable ------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "retryable"),
    [
        ({"code": "ETIMEDOUT"}, True),
        ({"code": "ECONNREFUSED"}, True),
        ({"code": "ETIMEDOUT", "status": 404}, False),
        ({"code": "ETIMEDOUT", "status": "401"}, False),
        ({"code": "ETIMEDOUT", "status": 403}, False),
        ({"code": "ETIMEDOUT", "status": 422}, False),
        ({"code": "ETIMEDOUT", "status": 500}, True),
        ({"code": "TypeError"}, False),
        ({"code": "401"}, False),
        ({"status": 503}, True),
        ({"status": 429}, True),  # rate limited: TRANSIENT, retried after a backoff
        ({"code": "ENOMEM"}, False),  # RESOURCE_EXHAUSTION is not in the retryable categories
    ],
)
def test_retryable(report: dict, retryable: bool) -> None:
    assert classify(report).retryable is retryable


def test_status_code_itself_blocks_retry_even_if_overridden() -> None:
    rules = {"404": Rule(C.TRANSIENT, S.LOW)}
    result = classify({"code": "404"}, rules)
    assert result.category is C.TRANSIENT and result.retryable is False


@pytest.mark.parametrize(
    ("code", "recoverable"),
    [
        ("ETIMEDOUT", True),
        ("ValueError", True),
        ("TypeError", True),
        ("401", False),  # security
        ("IntegrityError", False),  # data corruption
        ("ImproperlyConfigured", False),  # configuration
        ("ENOMEM", False),  # critical
        ("EMFILE", True),  # resource exhaustion but only HIGH
    ],
)
def test_recoverable(code: str, recoverable: bool) -> None:
    assert classify({"code": code}).recoverable is recoverable


# --- cause chain ---------------------------------------------------------------------------


def test_cause_is_classified_and_attached() -> None:
    result = classify({"name": "TypeError", "cause": {"code": "ECONNRESET"}})
    assert result.category is C.PERMANENT and result.code == "TypeError"
    assert result.cause is not None
    assert (result.cause.category, result.cause.code) == (C.TRANSIENT, "ECONNRESET")
    assert result.cause.cause is None


def test_bare_wrapper_inherits_cause() -> None:
    result = classify({"message": "request failed", "cause": {"code": "ECONNREFUSED"}})
    assert result.code is None
    assert (result.category, result.severity) == (C.EXTERNAL_DEPENDENCY, S.HIGH)
    assert result.retryable is True and result.recoverable is True and result.matched is True
    assert result.cause is not None and result.cause.code == "ECONNREFUSED"


def test_inheritance_propagates_through_several_bare_wrappers() -> None:
    report = {"cause": {"message": "x", "cause": {"code": "IntegrityError"}}}
    result = classify(report)
    assert result.category is C.DATA_CORRUPTION and result.code is None
    assert result.recoverable is False


def test_wrapper_with_unknown_code_does_not_inherit() -> None:
    result = classify({"code": "E_WRAP", "cause": {"code": "ECONNREFUSED"}})
    assert result.category is C.PERMANENT and result.matched is False
    assert result.cause is not None and result.cause.matched


def test_cause_uses_same_overrides() -> None:
    rules = {"ECONNREFUSED": Rule(C.TRANSIENT, S.LOW)}
    result = classify({"name": "X", "cause": {"code": "ECONNREFUSED"}}, rules)
    assert result.cause is not None and result.cause.category is C.TRANSIENT


def test_junk_cause_is_ignored() -> None:
    result = classify({"code": "ETIMEDOUT", "cause": "boom"})
    assert result.cause is None and result.category is C.TRANSIENT


def _chain(depth: int, leaf: dict) -> dict:
    report = leaf
    for i in range(depth):
        report = {"code": f"LEVEL{i}", "cause": report}
    return report


def _chain_length(result: Classification) -> int:
    n = 0
    node: Classification | None = result
    while node is not None:
        n += 1
        node = node.cause
    return n


def test_depth_limit_drops_deeper_causes() -> None:
    report = _chain(20, {"code": "ECONNREFUSED"})
    assert _chain_length(classify(report)) == 9  # top + 8 causes
    assert _chain_length(classify(report, max_depth=2)) == 3
    assert _chain_length(classify(report, max_depth=0)) == 1
    assert _chain_length(classify(report, max_depth=-5)) == 1


def test_cause_within_depth_is_kept() -> None:
    result = classify({"cause": {"cause": {"code": "ECONNREFUSED"}}}, max_depth=2)
    assert result.category is C.EXTERNAL_DEPENDENCY


def test_cause_beyond_depth_is_not_inherited() -> None:
    result = classify({"cause": {"cause": {"code": "ECONNREFUSED"}}}, max_depth=1)
    assert result.matched is False and result.category is C.PERMANENT


def test_very_deep_chain_does_not_hit_recursion_limit() -> None:
    report = _chain(50_000, {"code": "ECONNREFUSED"})
    assert classify(report).code == "LEVEL49999"
    deep = classify(report, max_depth=10_000)
    assert _chain_length(deep) == 10_001
    data = deep.to_dict()  # built iteratively too
    for _ in range(10_000):
        data = data["cause"]
    assert data["code"] == "LEVEL39999" and data["cause"] is None


def test_to_dict_is_json_ready_with_nested_cause() -> None:
    data = classify({"name": "TypeError", "cause": {"errno": 111, "status": 404}}).to_dict()
    assert json.loads(json.dumps(data)) == {
        "category": "PERMANENT",
        "severity": "HIGH",
        "retryable": False,
        "recoverable": True,
        "code": "TypeError",
        "matched": True,
        "cause": {
            "category": "BUSINESS_LOGIC",
            "severity": "LOW",
            "retryable": False,
            "recoverable": True,
            "code": "404",
            "matched": True,
            "cause": None,
        },
    }


# --- never raises (property) ---------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
_real_key = st.sampled_from(["code", "name", "status", "errno", "message", "cause"])
_reports = st.recursive(
    _json,
    lambda children: st.dictionaries(_real_key, children | _json, max_size=6),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(report=_reports, max_depth=st.integers(min_value=-3, max_value=12))
def test_classify_never_raises(report: object, max_depth: int) -> None:
    result = classify(report, max_depth=max_depth)
    node: Classification | None = result
    while node is not None:
        assert isinstance(node.category, Category)
        assert isinstance(node.severity, Severity)
        assert isinstance(node.retryable, bool) and isinstance(node.recoverable, bool)
        assert node.code is None or isinstance(node.code, str)
        node = node.cause
    json.dumps(result.to_dict())
