"""Property: whatever validate_report accepts, PostgreSQL stores; whatever it refuses, it
refuses with its own ReportError. Random JSON and text, NUL and lone surrogates included,
on every path into it: the API body, a mapped Sentry event, values built in Python."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import transaction
from django.utils import timezone as dj_timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from resilience.core import safe_json
from resilience.core.report_schema import REPORT_FIELDS, ReportError, validate_body, validate_report
from resilience.ingest.service import ingest
from resilience.models import ErrorLogEntry
from resilience.sentry.mapping import EventError, map_event

pytestmark = pytest.mark.usefixtures("postgres")

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# Every code point, surrogates (Cs) and NUL included: what a JSON escape can produce.
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
nasty_text = st.one_of(any_text, st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d\ude00", "", " ", "{{ default }}"]))
numbers = st.one_of(
    st.integers(), st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(), st.sampled_from([10**32, -(10**31), 2**63, 1.7e12, -1.0, 0]),
)
timestamps = st.one_of(
    numbers,
    st.datetimes(timezones=st.builds(
        timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                                max_value=timedelta(hours=23, minutes=59)),
    )).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                     "2020-01-01T00:00:00-16:52", "2026-11-30T12:00:00Z", "soon"]),
    nasty_text,
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=12,
)

def _plausible(kind: str) -> st.SearchStrategy:
    """Values of about the right type for a field, with hostile content."""
    return {
        "text": nasty_text, "id": st.one_of(nasty_text, numbers), "int": numbers,
        "object": st.dictionaries(nasty_text, json_values, max_size=3),
        "list": st.lists(nasty_text, max_size=3), "any": json_values,
        "timestamp": timestamps,
        "cause": st.fixed_dictionaries({}, optional={
            "code": nasty_text, "message": nasty_text, "errno": numbers,
            "cause": st.fixed_dictionaries({}, optional={"name": nasty_text})}),
    }[kind]


# Mostly values of the right type (so many reports pass and are written), sometimes any.
field_values = {name: st.one_of(_plausible(spec.kind), _plausible(spec.kind), json_values)
                for name, spec in REPORT_FIELDS.items()}
reports = st.lists(st.sampled_from([*REPORT_FIELDS, *REPORT_FIELDS, "unknown"]),
                   max_size=8, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({key: field_values.get(key, json_values)
                                        for key in keys}))


def _stored(report: dict, service) -> None:
    """Write it the way every path does (ingest), in a savepoint, and read it back."""
    with transaction.atomic():
        accepted = ingest([report], service_id=service.pk, now=dj_timezone.now(), source="api")
    entry = ErrorLogEntry.objects.get(pk=accepted[0].id)
    assert entry.timestamp >= datetime(2000, 1, 1, tzinfo=UTC)


@PROPERTY
@given(raw=reports)
def test_what_validate_report_accepts_postgresql_stores(service, raw):
    try:
        report = validate_report(raw, where="report", now=dj_timezone.now())
    except ReportError:
        event("refused")
        return
    event("accepted")
    _stored(report, service)


@PROPERTY
@given(raw=st.lists(reports, min_size=1, max_size=3))
def test_a_batch_is_accepted_whole_or_refused_naming_a_report(service, raw):
    try:
        clean, _ = validate_body(raw, max_batch=1000, now=dj_timezone.now())
    except ReportError as exc:
        assert exc.field.startswith("reports[")
        event("refused")
        return
    event("accepted")
    for report in clean:
        _stored(report, service)


events = st.fixed_dictionaries(
    {"event_id": st.uuids().map(lambda u: u.hex)},  # new each time: no resend shortcut
    optional={
        "message": st.one_of(nasty_text, json_values),
        "timestamp": timestamps,
        "environment": json_values, "release": json_values, "level": json_values,
        "tags": st.one_of(json_values, st.dictionaries(nasty_text, json_values, max_size=3)),
        "user": json_values, "contexts": json_values, "extra": json_values,
        "fingerprint": json_values,
        "platform": st.one_of(st.sampled_from(["python", "node", None]), json_values),
        "exception": st.fixed_dictionaries({"values": st.lists(st.fixed_dictionaries(
            {"type": nasty_text, "value": nasty_text},
            optional={"module": json_values, "mechanism": json_values,
                      "stacktrace": st.fixed_dictionaries({"frames": st.lists(
                          st.dictionaries(st.sampled_from(
                              ["filename", "abs_path", "module", "function", "lineno",
                               "colno", "in_app", "context_line", "pre_context",
                               "post_context", "vars"]), json_values), max_size=3)})}),
            max_size=3)}),
    },
)


@PROPERTY
@given(sentry_event=events)
def test_a_mapped_sentry_event_is_stored_or_refused_as_a_bad_event(service, sentry_event):
    try:
        mapped = map_event(sentry_event)
        report = validate_report(mapped.report, where="event", now=dj_timezone.now())
    except (EventError, ReportError):
        event("refused")
        return
    event("accepted")
    report["extra"] = mapped.extra  # as the Sentry views do
    # Storable as built: only what the SDK sent as it is (contexts, user, request, extra,
    # sdk) is walked again by the mapping; the frames, their context and the exception
    # tree are built from repaired text and small numbers.
    assert safe_json.check(mapped.extra) is mapped.extra
    _stored(report, service)
