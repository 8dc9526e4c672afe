"""The shape of an error report, and its validation (pure: no Django).

A hand-rolled validator rather than a DRF serializer: a batch of 1,000 reports has to be
checked in a few milliseconds on the request path. Every error names the field, with the
report's index in a batch, e.g. ``reports[3].attempt_count: must be an integer``.

Whatever passes can be written to PostgreSQL: every path (the API, Sentry events through
their mapping, the in-process guard) comes through here. Text that PostgreSQL refuses (NUL,
lone surrogates) is replaced with U+FFFD in free text (message, stack_trace, context: what an
error said) and refused in everything the service matches on (ids, codes, names, tags,
fingerprint) or replays (payload), where a silent change would be a different value.
Timestamps are converted to UTC and kept within OLDEST_TIMESTAMP … now + FUTURE_TOLERANCE.
"""

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from resilience.core import safe_json

MAX_CAUSE_DEPTH = 8
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Timestamps further ahead than this are the sender's clock being wrong; see parse_timestamp.
FUTURE_TOLERANCE = timedelta(minutes=5)
# Older timestamps are refused: no error of interest is that old, and a year-1 date (stored
# as 1 BC once its offset is applied) is one Python cannot read back.
OLDEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)


class ReportError(ValueError):
    """A report does not have the accepted shape; `field` says where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # text, id, int, object, list, any, timestamp, cause
    help: str
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    # NUL and lone surrogates: replaced with U+FFFD (free text; in JSON, NaN and infinities
    # become text too) or refused (the rest).
    repair: bool = False


def _text(max_length: int, help: str, *, repair: bool = False) -> FieldSpec:
    return FieldSpec("text", help, max_length=max_length, repair=repair)


def _id(max_length: int, help: str) -> FieldSpec:
    return FieldSpec("id", help, max_length=max_length)


# The accepted fields. The OpenAPI schema is generated from this table too.
REPORT_FIELDS: dict[str, FieldSpec] = {
    "event_id": _id(64, "Sender's id; the same id from the same service is stored once"),
    "code": _id(200, "Error code, e.g. ECONNREFUSED or a numeric code"),
    "name": _text(200, "Exception type, e.g. ConnectionError"),
    "status": FieldSpec("int", "HTTP status of the failed call", minimum=100, maximum=599),
    "errno": _id(32, "errno, as a number (111) or a name (ECONNREFUSED)"),
    "message": _text(32_768, "Error message", repair=True),
    "stack_trace": _text(262_144, "Stack trace as text", repair=True),
    "operation": _text(200, "What was being done, e.g. timer.execute"),
    "component": _text(200, "Which part of the service failed"),
    "campaign_id": _id(128, "Campaign the failure belongs to"),
    "timer_id": _id(128, "Timer the failure belongs to"),
    "user_id": _id(128, "User affected"),
    "attempt_count": FieldSpec(
        "int", "Attempts already made (0 on the first failure)", minimum=0, maximum=1_000_000
    ),
    "environment": _text(64, "Deployment environment, e.g. production"),
    "release": _text(200, "Release or version of the reporting service"),
    "context": FieldSpec("object", "Free-form context (JSON object)", repair=True),
    "payload": FieldSpec("any", "The work that failed, kept for dead-lettering and replay"),
    "tags": FieldSpec("object", "String tags"),
    "fingerprint": FieldSpec("list", "Custom grouping parts; '{{ default }}' = default grouping"),
    "cause": FieldSpec("cause", "The error that caused this one (same fields, nested)"),
    "timestamp": FieldSpec(
        "timestamp", "When it happened: RFC 3339 string or epoch seconds, from 2000-01-01 "
        "(UTC) on; more than 5 minutes ahead is taken as now"
    ),
}
CAUSE_FIELDS = ("code", "name", "status", "errno", "message", "stack_trace", "cause")


def _clean_text(field: str, value: str, spec: FieldSpec, clean: bool = False) -> str:
    if clean:  # the body had no escape that can make NUL or a surrogate
        return value
    problem = safe_json.text_problem(value)
    if problem is None:
        return value
    if spec.repair:
        return safe_json.replace_bad_text(value)
    raise ReportError(field, problem)


def storable_json(field: str, value: Any, *, repair: bool = False) -> Any:
    """`value` as PostgreSQL's jsonb will take it, or ReportError naming the inner path
    (`reports[2].payload.items[3]: contains a NUL character …`)."""
    try:
        return safe_json.check(value, repair=repair, path=field)
    except safe_json.UnsafeJSON as exc:
        raise ReportError(exc.path or field, exc.problem) from None


def _check_text(field: str, value: Any, spec: FieldSpec, clean: bool) -> str:
    if not isinstance(value, str):
        raise ReportError(field, "must be a string")
    if spec.max_length and len(value) > spec.max_length:
        raise ReportError(field, f"is longer than {spec.max_length} characters")
    return _clean_text(field, value, spec, clean)


def _check_id(field: str, value: Any, spec: FieldSpec, clean: bool) -> str | int:
    # Ids and codes may arrive as numbers (errno 111, campaign 42); stored as text.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReportError(field, "must be a string or an integer")
    if isinstance(value, int):
        # Compared before str(): Python refuses to write out an int of over 4,300 digits.
        if spec.max_length and abs(value) >= 10**spec.max_length:
            raise ReportError(field, f"is longer than {spec.max_length} digits")
        if field.endswith("errno") and len(str(value)) <= (spec.max_length or 0):
            return value  # the classifier maps a numeric errno to its name (111 → ECONNREFUSED)
    value = str(value).strip()
    if not value:
        raise ReportError(field, "must not be empty")
    if spec.max_length and len(value) > spec.max_length:
        raise ReportError(field, f"is longer than {spec.max_length} characters")
    if field.endswith("event_id") and not EVENT_ID_RE.match(value):
        raise ReportError(field, "may only contain letters, digits and . _ : -")
    return _clean_text(field, value, spec, clean)


def _check_int(field: str, value: Any, spec: FieldSpec, clean: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportError(field, "must be an integer")
    if spec.minimum is not None and value < spec.minimum:
        raise ReportError(field, f"must be at least {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise ReportError(field, f"must be at most {spec.maximum}")
    return value


def _check_object(field: str, value: Any, spec: FieldSpec, clean: bool) -> dict:
    if not isinstance(value, dict):
        raise ReportError(field, "must be a JSON object")
    if not clean:
        value = storable_json(field, value, repair=spec.repair)
    if field.endswith("tags"):
        for key, tag in value.items():
            if not isinstance(tag, str | int | float | bool) or len(str(tag)) > 200:
                raise ReportError(safe_json.key_path(field, key), "must be a short string")
    return value


def _check_list(field: str, value: Any, spec: FieldSpec, clean: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReportError(field, "must be a list of strings")
    if len(value) > 16 or any(len(v) > 200 for v in value):
        raise ReportError(field, "may hold at most 16 strings of at most 200 characters")
    for index, part in enumerate(value):
        _clean_text(f"{field}[{index}]", part, spec, clean)
    return value


def _check_any(field: str, value: Any, spec: FieldSpec, clean: bool) -> Any:
    return value if clean else storable_json(field, value, repair=spec.repair)


_EPOCH_HELP = "is not a valid epoch time (seconds since 1970-01-01T00:00:00Z)"


def _moment(field: str, value: Any) -> datetime:
    """The instant `value` names, in UTC; years beyond 9999 become datetime.max."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReportError(field, "must be an RFC 3339 string or epoch seconds")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ReportError(field, "is not an RFC 3339 date-time") from None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        # Any offset Python reads (up to ±23:59) names one instant; PostgreSQL takes only
        # ±15:59, so the instant is stored in UTC.
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # before 0001-01-01 or after 9999-12-31 once in UTC
            return (datetime.max if moment.year == 9999 else datetime.min).replace(tzinfo=UTC)
    if isinstance(value, float) and math.isnan(value):
        raise ReportError(field, _EPOCH_HELP)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):  # beyond what a datetime holds
        return (datetime.max if value > 0 else datetime.min).replace(tzinfo=UTC)


def parse_timestamp(field: str, value: Any, now: datetime) -> datetime:
    """RFC 3339 text or epoch seconds → aware UTC datetime in [OLDEST_TIMESTAMP, now].

    A sender whose clock runs fast would otherwise file its errors in future hourly
    buckets, so anything more than FUTURE_TOLERANCE ahead is taken as `now`; anything
    before OLDEST_TIMESTAMP is refused.
    """
    return in_window(field, _moment(field, value), now)


def in_window(field: str, moment: datetime, now: datetime) -> datetime:
    """An aware `moment` within [OLDEST_TIMESTAMP, now] (see parse_timestamp)."""
    if moment < OLDEST_TIMESTAMP:
        raise ReportError(field, "is before 2000-01-01T00:00:00Z, the oldest time accepted")
    return min(moment, now) if moment > now + FUTURE_TOLERANCE else moment


_CHECKS: dict[str, Callable[[str, Any, FieldSpec, bool], Any]] = {
    "text": _check_text,
    "id": _check_id,
    "int": _check_int,
    "object": _check_object,
    "list": _check_list,
    "any": _check_any,
}


def _check_cause(field: str, value: Any, depth: int, clean: bool) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReportError(field, "must be a JSON object (a nested error)")
    if depth >= MAX_CAUSE_DEPTH:
        raise ReportError(field, f"cause chain is deeper than {MAX_CAUSE_DEPTH}")
    cause: dict[str, Any] = {}
    for key, item in value.items():
        if key not in CAUSE_FIELDS:
            raise ReportError(safe_json.key_path(field, key), "unknown field")
        if item is None:
            continue
        if key == "cause":
            cause[key] = _check_cause(f"{field}.cause", item, depth + 1, clean)
        else:
            spec = REPORT_FIELDS[key]
            cause[key] = _CHECKS[spec.kind](f"{field}.{key}", item, spec, clean)
    return cause


def validate_report(
    raw: Any, *, where: str, now: datetime, text_checked: bool = False
) -> dict[str, Any]:
    """Check one report and return its cleaned fields (absent or null fields left out).

    `text_checked`: the report was parsed by safe_json.loads from a body with no escape
    that can make NUL or a lone surrogate (`safe_json.text_escapes`), and its numbers and
    depth were bounded there: no string or JSON value needs checking again for storage."""
    if not isinstance(raw, dict):
        raise ReportError(where, "must be a JSON object")
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        spec = REPORT_FIELDS.get(key)
        if spec is None:
            raise ReportError(safe_json.key_path(where, key), "unknown field")
        field = f"{where}.{key}"
        if value is None:
            continue
        if spec.kind == "timestamp":
            clean[key] = parse_timestamp(field, value, now)
        elif spec.kind == "cause":
            clean[key] = _check_cause(field, value, 1, text_checked)
        else:
            clean[key] = _CHECKS[spec.kind](field, value, spec, text_checked)
    return clean


def validate_body(
    body: Any, *, max_batch: int, now: datetime, text_checked: bool = False
) -> tuple[list[dict], bool]:
    """A JSON body → (clean reports, was_batch). Raises ReportError naming the field.
    `text_checked` as for validate_report."""
    if isinstance(body, dict):
        return [validate_report(body, where="report", now=now, text_checked=text_checked)], False
    if not isinstance(body, list):
        raise ReportError("body", "must be a report object or a list of report objects")
    if not body:
        raise ReportError("body", "the list of reports is empty")
    if len(body) > max_batch:
        raise ReportError("body", f"holds {len(body)} reports; at most {max_batch} per request")
    return [
        validate_report(r, where=f"reports[{i}]", now=now, text_checked=text_checked)
        for i, r in enumerate(body)
    ], True


def classification_input(report: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the classifier reads (code, name, status, errno, message, cause)."""
    return {key: report[key] for key in CAUSE_FIELDS if key in report}
