"""report_schema: every value it passes is one PostgreSQL stores (pure, no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from resilience.core.report_schema import ReportError, validate_body, validate_report

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def refused(raw, field: str, words: str) -> None:
    with pytest.raises(ReportError) as caught:
        validate_report(raw, where="report", now=NOW)
    assert caught.value.field == field, str(caught.value)
    assert words in caught.value.problem, str(caught.value)


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+14:00",  # 1 BC once the offset is applied: halted the digest
    "0001-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
    -1,
    -1e30,
])
def test_timestamps_before_2000_are_refused_naming_the_field(value):
    refused({"timestamp": value}, "report.timestamp", "is before 2000-01-01T00:00:00Z")


@pytest.mark.parametrize("value, words", [
    (float("nan"), "not a valid epoch time"),
    ("yesterday", "not an RFC 3339 date-time"),
    ("2026-13-01T00:00:00Z", "not an RFC 3339 date-time"),
    (True, "must be an RFC 3339 string or epoch seconds"),
])
def test_timestamps_that_are_not_times_are_refused(value, words):
    refused({"timestamp": value}, "report.timestamp", words)


def test_any_offset_python_reads_is_converted_to_utc():
    # PostgreSQL takes offsets up to ±15:59 only; -16:52 was a 500.
    report = validate_report({"timestamp": "2020-01-01T00:00:00-16:52"}, where="r", now=NOW)
    assert report["timestamp"] == datetime(2020, 1, 1, 16, 52, tzinfo=UTC)
    assert report["timestamp"].utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [
    "9999-12-31T23:59:59-14:00",  # past year 9999 once in UTC
    1.7e12,  # milliseconds sent as seconds
    10**30,
    float("inf"),
    "2026-11-30T12:06:00Z",  # six minutes ahead
])
def test_timestamps_ahead_of_now_are_taken_as_now(value):
    assert validate_report({"timestamp": value}, where="r", now=NOW)["timestamp"] == NOW


def test_the_window_edges_are_accepted():
    for value in ("2000-01-01T00:00:00Z", 946684800, "2026-11-30T12:05:00Z"):
        moment = validate_report({"timestamp": value}, where="r", now=NOW)["timestamp"]
        assert datetime(2000, 1, 1, tzinfo=UTC) <= moment <= NOW + timedelta(minutes=5)


# --- integers ----------------------------------------------------------------------------------


def test_errno_beyond_its_column_is_refused_as_a_number_or_text():
    refused({"errno": 10**32}, "report.errno", "is longer than 32 digits")
    refused({"errno": -(10**31)}, "report.errno", "is longer than 32 characters")
    refused({"errno": 10**5000}, "report.errno", "longer than 32 digits")  # no str() of it
    assert validate_report({"errno": 10**31}, where="r", now=NOW)["errno"] == 10**31
    assert validate_report({"errno": 111}, where="r", now=NOW)["errno"] == 111


@pytest.mark.parametrize("field, value, words", [
    ("attempt_count", 10**40, "must be at most 1000000"),
    ("attempt_count", -1, "must be at least 0"),
    ("status", 10**40, "must be at most 599"),
    ("campaign_id", 10**200, "is longer than 128 digits"),
    ("code", -(10**199), "is longer than 200 characters"),
])
def test_integers_beyond_their_columns_are_refused(field, value, words):
    refused({field: value}, f"report.{field}", words)


# --- text: replaced in free text, refused where it is matched on or replayed ---------------------


@pytest.mark.parametrize("field", ["message", "stack_trace"])
def test_nul_and_lone_surrogates_in_free_text_become_the_replacement_character(field):
    report = validate_report({field: "a\x00b\ud800c"}, where="r", now=NOW)
    assert report[field] == "a\ufffdb\ufffdc"
    cause = validate_report({"cause": {field: "x\x00"}}, where="r", now=NOW)["cause"]
    assert cause[field] == "x\ufffd"


def test_context_is_repaired_keys_and_values():
    report = validate_report({"context": {"k\x00": ["v\udc80", {"n": 1}]}}, where="r", now=NOW)
    assert report["context"] == {"k\ufffd": ["v\ufffd", {"n": 1}]}
    report = validate_report({"context": {"a": float("inf")}}, where="r", now=NOW)
    assert report["context"] == {"a": "inf"}


@pytest.mark.parametrize("raw, field, words", [
    ({"event_id": "a\x00"}, "report.event_id", "may only contain"),
    ({"code": "E\x00"}, "report.code", "NUL character"),
    ({"name": "Error\ud800"}, "report.name", "lone surrogate"),
    ({"operation": "op\x00"}, "report.operation", "NUL character"),
    ({"errno": "E\x00"}, "report.errno", "NUL character"),
    ({"campaign_id": "c\x00"}, "report.campaign_id", "NUL"),
    ({"environment": "prod\x00"}, "report.environment", "NUL"),
    ({"release": "1\x00"}, "report.release", "NUL"),
    ({"fingerprint": ["a", "b\x00"]}, "report.fingerprint[1]", "NUL"),
    ({"tags": {"team": "a\x00"}}, "report.tags.team", "NUL"),
    ({"tags": {"t\x00": "a"}}, "report.tags['t\\x00'] (the key)", "NUL"),
    ({"payload": {"items": [1, "x\x00"]}}, "report.payload.items[1]", "NUL"),
    ({"payload": {"k\ud800": 1}}, "report.payload['k\\ud800'] (the key)", "lone surrogate"),
    ({"cause": {"code": "E\x00"}}, "report.cause.code", "NUL"),
])
def test_nul_and_lone_surrogates_are_refused_where_a_change_would_make_another_value(
    raw, field, words
):
    refused(raw, field, words)


@pytest.mark.parametrize("raw, field, words", [
    ({"payload": {"a": float("nan")}}, "report.payload.a", "is nan"),
    ({"tags": {"t": float("nan")}}, "report.tags.t", "is nan"),
    ({"payload": 10**100}, "report.payload", "more than 64 digits"),
    ({"context": {"a": object()}}, "report.context.a", "not a JSON value"),
])
def test_json_fields_refuse_what_jsonb_cannot_hold(raw, field, words):
    refused(raw, field, words)


def test_deep_json_fields_are_refused_even_when_built_in_python():
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    refused({"payload": deep}, "report.payload" + ".a" * 64, "nested more than 64 levels deep")


def test_unknown_odd_field_names_are_quoted_in_the_message():
    refused({"bad\x00key": 1}, "report['bad\\x00key']", "unknown field")


# --- batches ------------------------------------------------------------------------------------


def test_one_bad_report_in_a_batch_of_1000_is_named_by_its_index():
    body = [{"code": "E", "timestamp": "2026-11-30T11:00:00Z"} for _ in range(1000)]
    body[417]["timestamp"] = "0001-01-01T00:00:00+14:00"
    with pytest.raises(ReportError) as caught:
        validate_body(body, max_batch=1000, now=NOW)
    assert caught.value.field == "reports[417].timestamp"
    assert str(caught.value).startswith("reports[417].timestamp: is before 2000-01-01")
