"""The classifier against the seed's ErrorClassifier, row by row (pure: no database)."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.core.classification import (
    ADDED_CODE_TABLE,
    DEFAULT_RULES,
    SEED_CODE_TABLE,
    SEVERITY_RANK,
    UNKNOWN_CODE,
    Category,
    Classification,
    Rule,
    Severity,
    classify,
    error_code,
    max_severity,
    severity_for,
    with_severity_floor,
)

C, S = Category, Severity

# Literal copy of the seed's errorPatterns: the test must be able to disagree with the code.
SEED_TABLE = {
    "ECONNREFUSED": C.TRANSIENT,
    "ENOTFOUND": C.CONFIGURATION,
    "ECONNRESET": C.TRANSIENT,
    "ETIMEDOUT": C.TRANSIENT,
    "SequelizeConnectionError": C.TRANSIENT,
    "SequelizeValidationError": C.BUSINESS_LOGIC,
    "SequelizeUniqueConstraintError": C.BUSINESS_LOGIC,
    "ConnectionError": C.TRANSIENT,
    "TimeoutError": C.TRANSIENT,
    "ReplyError": C.PERMANENT,
    "ENOMEM": C.RESOURCE_EXHAUSTION,
    "EMFILE": C.RESOURCE_EXHAUSTION,
    "ENOSPC": C.RESOURCE_EXHAUSTION,
    "ValidationError": C.BUSINESS_LOGIC,
    "TypeError": C.BUSINESS_LOGIC,
    "ReferenceError": C.BUSINESS_LOGIC,
    "401": C.SECURITY,
    "403": C.SECURITY,
    "404": C.BUSINESS_LOGIC,
    "429": C.EXTERNAL_DEPENDENCY,
    "500": C.EXTERNAL_DEPENDENCY,
    "502": C.EXTERNAL_DEPENDENCY,
    "503": C.EXTERNAL_DEPENDENCY,
    "504": C.EXTERNAL_DEPENDENCY,
}

# The seed's determineSeverity, literally.
SEED_SEVERITY = {
    C.RESOURCE_EXHAUSTION: S.CRITICAL,
    C.DATA_CORRUPTION: S.CRITICAL,
    C.SECURITY: S.HIGH,
    C.PERMANENT: S.HIGH,
    C.CONFIGURATION: S.HIGH,
    C.EXTERNAL_DEPENDENCY: S.MEDIUM,
    C.BUSINESS_LOGIC: S.MEDIUM,
    C.TRANSIENT: S.LOW,
}

SEED_FILE = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_ccd626b52a2f2ca9.txt"


def seed_report(code: str) -> dict:
    """A report carrying `code` where a client would put it: HTTP codes as a status."""
    return {"status": int(code)} if code.isdigit() else {"code": code}


def seed_expected(code: str) -> tuple[Category, Severity, bool, bool]:
    """What the seed's classifyError answers for a report with this code."""
    category = SEED_TABLE[code]
    retryable = category in (C.TRANSIENT, C.EXTERNAL_DEPENDENCY) and code not in (
        "401", "403", "404", "422"
    )
    recoverable = category not in (C.DATA_CORRUPTION, C.SECURITY)
    return category, SEED_SEVERITY[category], retryable, recoverable


# --- the table -------------------------------------------------------------------------


def test_seed_rows_are_the_seed_exactly() -> None:
    assert dict(SEED_CODE_TABLE) == SEED_TABLE
    assert list(SEED_CODE_TABLE) == list(SEED_TABLE)  # and in the seed's order


@pytest.mark.skipif(not SEED_FILE.exists(), reason="the seed is not beside this checkout")
def test_literal_table_matches_the_seed_document() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    rows = re.findall(r"\['([^']+)', ErrorCategory\.([A-Z_]+)\]", text)
    assert {code: C(category) for code, category in rows} == SEED_TABLE


def test_additions_do_not_redefine_a_seed_row() -> None:
    assert not set(ADDED_CODE_TABLE) & set(SEED_CODE_TABLE)
    assert set(DEFAULT_RULES) == set(SEED_CODE_TABLE) | set(ADDED_CODE_TABLE)


def test_default_rules_carry_no_severity_of_their_own() -> None:
    assert all(rule.severity is None for rule in DEFAULT_RULES.values())


def test_default_rules_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_RULES["X"] = Rule(C.PERMANENT)  # type: ignore[index]


@pytest.mark.parametrize("category", list(C))
def test_severity_follows_the_category_as_determine_severity(category: Category) -> None:
    assert severity_for(category) is SEED_SEVERITY[category]


@pytest.mark.parametrize("code", list(SEED_TABLE))
def test_every_seed_row_classifies_as_the_seed(code: str) -> None:
    result = classify(seed_report(code))
    category, severity, retryable, recoverable = seed_expected(code)
    assert (result.category, result.severity, result.retryable, result.recoverable) == (
        category, severity, retryable, recoverable
    )
    assert result.code == code and result.matched and result.classified_by == "code"


@pytest.mark.parametrize("code", list(ADDED_CODE_TABLE))
def test_every_addition_takes_its_severity_from_its_category(code: str) -> None:
    result = classify({"code": code})
    assert result.category is ADDED_CODE_TABLE[code]
    assert result.severity is SEED_SEVERITY[ADDED_CODE_TABLE[code]]


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        # The spot checks.
        ({"code": "ECONNREFUSED"}, (C.TRANSIENT, S.LOW, True)),
        ({"code": "ENOTFOUND"}, (C.CONFIGURATION, S.HIGH, False)),
        ({"status": 503}, (C.EXTERNAL_DEPENDENCY, S.MEDIUM, True)),
        ({"status": 404}, (C.BUSINESS_LOGIC, S.MEDIUM, False)),
        ({"name": "ReplyError"}, (C.PERMANENT, S.HIGH, False)),
        ({"code": "E_NOBODY_KNOWS"}, (C.PERMANENT, S.HIGH, False)),
        # Python and Node names beyond the seed.
        ({"name": "ConnectionRefusedError"}, (C.TRANSIENT, S.LOW, True)),
        ({"name": "requests.exceptions.ConnectionError"}, (C.TRANSIENT, S.LOW, True)),
        ({"name": "httpx.ConnectError"}, (C.TRANSIENT, S.LOW, True)),
        ({"name": "psycopg2.OperationalError"}, (C.TRANSIENT, S.LOW, True)),
        ({"name": "redis.exceptions.ConnectionError"}, (C.TRANSIENT, S.LOW, True)),
        ({"name": "ModuleNotFoundError"}, (C.CONFIGURATION, S.HIGH, False)),
        ({"name": "MemoryError"}, (C.RESOURCE_EXHAUSTION, S.CRITICAL, False)),
    ],
)
def test_spot_checks(report: dict, expected: tuple) -> None:
    result = classify(report)
    assert (result.category, result.severity, result.retryable) == expected


# --- error_code: code, then name, then status, then errno -----------------------------


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
        ({"name": "TypeError", "message": "fetch failed"}, "fetch failed"),
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
    assert result.category is C.TRANSIENT and result.matched


def test_lower_case_code_matches_upper_case_rule() -> None:
    result = classify({"code": "econnrefused"})
    assert result.category is C.TRANSIENT and result.matched
    assert result.code == "econnrefused"


def test_names_are_case_sensitive() -> None:
    assert classify({"name": "typeerror"}).matched is False


def test_dotted_name_falls_back_to_last_component() -> None:
    result = classify({"name": "myapp.models.Order.DoesNotExist"})
    assert result.category is C.BUSINESS_LOGIC and result.matched
    assert result.code == "myapp.models.Order.DoesNotExist"


def test_dotted_full_name_wins_over_last_component() -> None:
    rules = {"ConnectionError": Rule(C.PERMANENT, S.LOW)}
    # the full name still matches its own row even though the bare name was overridden
    assert classify({"name": "redis.exceptions.ConnectionError"}, rules).category is C.TRANSIENT
    assert classify({"name": "other.ConnectionError"}, rules).category is C.PERMANENT


def test_unknown_code_is_permanent() -> None:
    result = classify({"code": "E_SOMETHING_ELSE"})
    assert (result.category, result.severity, result.matched) == (C.PERMANENT, S.HIGH, False)
    assert result.code == "E_SOMETHING_ELSE" and result.classified_by == "default"
    assert result.retryable is False and result.recoverable is True


def test_no_code_is_unknown_error() -> None:
    result = classify({"message": "something broke"})
    assert (result.category, result.severity) == (C.PERMANENT, S.HIGH)
    assert result.code == UNKNOWN_CODE == "UNKNOWN_ERROR" and result.matched is False


@pytest.mark.parametrize("junk", [None, [], [{"code": "ECONNREFUSED"}], 1, "ECONNREFUSED", 1.5])
def test_non_mapping_report(junk: object) -> None:
    result = classify(junk)
    assert (result.category, result.severity, result.matched, result.code) == (
        C.PERMANENT, S.HIGH, False, UNKNOWN_CODE
    )


# --- operators' rules ----------------------------------------------------------------------


def test_override_replaces_default() -> None:
    rules = {"ECONNREFUSED": Rule(C.CONFIGURATION, S.CRITICAL)}
    result = classify({"code": "ECONNREFUSED"}, rules)
    assert (result.category, result.severity) == (C.CONFIGURATION, S.CRITICAL)
    assert classify({"code": "ETIMEDOUT"}, rules).category is C.TRANSIENT
    assert DEFAULT_RULES["ECONNREFUSED"] == Rule(C.TRANSIENT)  # defaults untouched


def test_override_without_severity_follows_its_category() -> None:
    result = classify({"code": "ECONNREFUSED"}, {"ECONNREFUSED": Rule(C.SECURITY)})
    assert (result.category, result.severity, result.recoverable) == (C.SECURITY, S.HIGH, False)


def test_override_adds_new_code() -> None:
    result = classify({"code": "P2002"}, {"P2002": Rule(C.BUSINESS_LOGIC)})
    assert result.matched and result.category is C.BUSINESS_LOGIC and result.severity is S.MEDIUM


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
        ({"status": 429}, True),
        ({"code": "ENOMEM"}, False),  # RESOURCE_EXHAUSTION is not a retryable category
    ],
)
def test_retryable(report: dict, retryable: bool) -> None:
    assert classify(report).retryable is retryable


def test_non_retryable_code_blocks_retry_even_if_overridden() -> None:
    rules = {"404": Rule(C.TRANSIENT)}
    assert classify({"code": "404"}, rules).retryable is False
    # The seed reads the status when there is one, and the code only when there is not.
    assert classify({"code": "404", "status": 503}, rules).retryable is True


@pytest.mark.parametrize(
    ("code", "recoverable"),
    [
        ("ETIMEDOUT", True),
        ("ValueError", True),
        ("TypeError", True),
        ("401", False),  # security
        ("JSONDecodeError", False),  # data corruption
        ("ModuleNotFoundError", True),  # configuration: recoverable, as in the seed
        ("ENOMEM", True),  # critical, but the seed only excludes two categories
    ],
)
def test_recoverable(code: str, recoverable: bool) -> None:
    assert classify({"code": code}).recoverable is recoverable


def test_severity_floor_raises_severity_only() -> None:
    base = classify({"code": "ECONNREFUSED"})
    raised = with_severity_floor(base, S.CRITICAL)
    assert raised.severity is S.CRITICAL
    assert (raised.category, raised.retryable, raised.recoverable) == (C.TRANSIENT, True, True)
    assert with_severity_floor(raised, S.LOW) is raised  # never lowered


# --- cause chain (the seed's causedBy) and wrapped errors --------------------------------


def test_cause_is_classified_and_attached() -> None:
    result = classify({"name": "TypeError", "cause": {"code": "ECONNRESET"}})
    assert result.category is C.BUSINESS_LOGIC and result.code == "TypeError"
    assert result.cause is not None
    assert (result.cause.category, result.cause.code) == (C.TRANSIENT, "ECONNRESET")
    assert result.cause.cause is None


def test_unknown_wrapper_takes_the_known_cause() -> None:
    # raise ServiceError from ConnectionRefusedError
    result = classify({"name": "ServiceError", "cause": {"name": "ConnectionRefusedError"}})
    assert (result.category, result.severity, result.retryable) == (C.TRANSIENT, S.LOW, True)
    assert result.code == "ServiceError" and result.classified_by == "cause"


def test_seed_mode_leaves_an_unknown_wrapper_permanent() -> None:
    report = {"name": "ServiceError", "cause": {"name": "ConnectionRefusedError"}}
    result = classify(report, by_cause=False)
    assert (result.category, result.retryable, result.classified_by) == (
        C.PERMANENT, False, "default"
    )
    assert result.cause is not None and result.cause.category is C.TRANSIENT


def test_node_fetch_failed_takes_its_cause() -> None:
    report = {"name": "TypeError", "message": "fetch failed", "cause": {"code": "ENOTFOUND"}}
    result = classify(report)
    assert (result.category, result.retryable, result.classified_by) == (
        C.CONFIGURATION, False, "cause"
    )
    alone = classify({"name": "TypeError", "message": "fetch failed"})
    assert (alone.category, alone.retryable) == (C.EXTERNAL_DEPENDENCY, True)
    refused = classify({**report, "cause": {"code": "ECONNREFUSED"}})
    assert refused.retryable is True


def test_nearest_known_cause_decides() -> None:
    report = {"name": "A", "cause": {"name": "B", "cause": {"code": "ECONNRESET",
                                                           "cause": {"code": "ENOTFOUND"}}}}
    result = classify(report)
    assert result.category is C.TRANSIENT and result.classified_by == "cause"
    assert result.cause is not None and result.cause.classified_by == "cause"


def test_outer_non_retryable_status_still_counts() -> None:
    result = classify({"name": "X", "status": 404, "cause": {"code": "ECONNRESET"}})
    assert result.category is C.TRANSIENT and result.retryable is False


def test_known_outer_code_is_not_overruled_by_its_cause() -> None:
    result = classify({"code": "ETIMEDOUT", "cause": {"code": "ENOTFOUND"}})
    assert result.category is C.TRANSIENT and result.classified_by == "code"


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


def test_cause_beyond_depth_is_not_used() -> None:
    assert classify({"cause": {"cause": {"code": "ECONNREFUSED"}}}, max_depth=2).matched
    assert classify({"cause": {"cause": {"code": "ECONNREFUSED"}}}, max_depth=1).matched is False


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
        "category": "BUSINESS_LOGIC",
        "severity": "MEDIUM",
        "retryable": False,
        "recoverable": True,
        "code": "TypeError",
        "matched": True,
        "classified_by": "code",
        "cause": {
            "category": "BUSINESS_LOGIC",
            "severity": "MEDIUM",
            "retryable": False,
            "recoverable": True,
            "code": "404",
            "matched": True,
            "classified_by": "code",
            "cause": None,
        },
    }


# --- small helpers ---------------------------------------------------------------------


def test_enum_values_are_upper_case_names() -> None:
    assert [c.value for c in Category] == [c.name for c in Category]
    assert [s.value for s in Severity] == [s.name for s in Severity]


def test_severity_rank_and_max() -> None:
    assert [SEVERITY_RANK[s] for s in (S.LOW, S.MEDIUM, S.HIGH, S.CRITICAL)] == [0, 1, 2, 3]
    assert max_severity(S.LOW, S.CRITICAL, S.MEDIUM) is S.CRITICAL
    assert max_severity(S.MEDIUM, "HIGH") is S.HIGH
    assert max_severity() is S.LOW


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
@given(report=_reports, max_depth=st.integers(min_value=-3, max_value=12),
       by_cause=st.booleans())
def test_classify_never_raises(report: object, max_depth: int, by_cause: bool) -> None:
    result = classify(report, max_depth=max_depth, by_cause=by_cause)
    node: Classification | None = result
    while node is not None:
        assert isinstance(node.category, Category)
        assert isinstance(node.severity, Severity)
        assert isinstance(node.retryable, bool) and isinstance(node.recoverable, bool)
        assert isinstance(node.code, str)
        node = node.cause
    json.dumps(result.to_dict())
