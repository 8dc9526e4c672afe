"""The accept step: scrub, classify, decide, store. Every way in (API, Sentry, guard) ends
here.

Classification and the decision are pure and happen before the write; the write is one
multi-row INSERT committed before the caller is answered. Grouping, counts and rollups are
the digest's job (services/digest.py), scheduled after commit.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resilience import conf
from resilience.circuits.lookup import NO_CIRCUIT, NOT_READ, circuit_readings_for
from resilience.core.backoff import BackoffPolicy
from resilience.core.classification import (
    UNKNOWN_CODE,
    Classification,
    Rule,
    classify_many,
    with_severity,
    with_severity_floor,
)
from resilience.core.report_schema import classification_input
from resilience.core.strategy import CircuitView, decide, reads_circuit
from resilience.groups.selectors import classification_rules, classification_rules_last_known
from resilience.ingest import entry_writer, spool
from resilience.ingest.entry_rows import new_entry
from resilience.ingest.scrubbing import service_scrubber
from resilience.models import ErrorLogEntry


@dataclass(frozen=True)
class Accepted:
    """What the caller is told about one stored report (or spooled: id None, spooled)."""

    id: int | None
    event_id: str
    category: str
    severity: str
    retryable: bool
    recoverable: bool
    strategy: str
    retry_after_ms: int | None
    circuit: str
    spooled: bool = False

    def as_dict(self) -> dict[str, Any]:
        answer = self.__dict__.copy()
        if not self.spooled:
            del answer["spooled"]  # only said when true: stored reports look as they did
        return answer


def backoff_policy() -> BackoffPolicy:
    return BackoffPolicy(
        base_ms=conf.get("BACKOFF_BASE_MS"),
        factor=conf.get("BACKOFF_FACTOR"),
        cap_ms=conf.get("BACKOFF_CAP_MS"),
        jitter=conf.get("BACKOFF_JITTER"),
        full_jitter=conf.get("BACKOFF_FULL_JITTER"),
    )


_TEXT_FIELDS = (
    "code",
    "name",
    "message",
    "stack_trace",
    "operation",
    "component",
    "campaign_id",
    "timer_id",
    "user_id",
    "environment",
    "release",
)


def reporter_severity(report: Mapping[str, Any], classification: Classification) -> Classification:
    """`severity_floor` (set by internal callers such as the Sentry endpoints, never by the
    API's schema) raises the severity before the decision, so "fatal" alerts at once;
    `level_severity` (a Sentry message's level: a log line is not a failure) replaces it."""
    if report.get("severity_floor"):
        classification = with_severity_floor(classification, report["severity_floor"])
    if report.get("level_severity"):
        classification = with_severity(classification, report["level_severity"])
    return classification


def build_entry(
    report: Mapping[str, Any],
    *,
    service_id: int,
    source: str,
    now: datetime,
    policy: BackoffPolicy,
    max_attempts: int,
    classification: Classification,
    circuit: CircuitView,
) -> ErrorLogEntry:
    """One validated report → an unsaved entry with the decision made. `classification`
    is final: the reporter's own level already applied (reporter_severity), since the
    circuit call depends on it too."""
    decision = decide(
        classification,
        attempt_count=report.get("attempt_count", 0),
        max_attempts=max_attempts,
        policy=policy,
        circuit=circuit,
    )
    extra = dict(report.get("extra") or {})
    if report.get("tags"):
        extra["tags"] = report["tags"]
    values = {field: report.get(field) or "" for field in _TEXT_FIELDS}
    if not values["code"] and not values["name"] and classification.code != UNKNOWN_CODE:
        # The seed's ServiceError.code is the extracted one: a bare {"status": 503} is
        # code "503" in the log, the rollups and the dashboard's top codes.
        values["code"] = classification.code[:200]
    entry = new_entry({
        **values,
        "service_id": service_id,
        "event_id": report.get("event_id") or uuid.uuid4().hex,
        "source": source,
        "received_at": now,
        "timestamp": report.get("timestamp") or now,
        "category": classification.category.value,
        "severity": classification.severity.value,
        "retryable": classification.retryable,
        "recoverable": classification.recoverable,
        "strategy": decision.strategy.value,
        "retry_after_ms": decision.retry_after_ms,
        "classification": classification.to_dict(),
        "http_status": report.get("status"),
        "errno": str(report.get("errno", "")),
        "attempt_count": report.get("attempt_count", 0),
        "context": report.get("context") or {},
        "payload": report.get("payload"),
        "cause": report.get("cause"),
        "fingerprint": report.get("fingerprint"),
        "extra": extra,
    })
    # A server-made id cannot be stored already, so the writer skips looking it up.
    entry.generated_event_id = "event_id" not in report
    return entry


def reports_classified(
    reports: Sequence[Mapping[str, Any]], *, rules: Mapping[str, Rule], by_cause: bool
) -> list[Classification]:
    """Each report's final classification (the reporter's own level applied)."""
    classifications = classify_many(map(classification_input, reports), rules,
                                    by_cause=by_cause)
    return [
        reporter_severity(report, classification)
        for report, classification in zip(reports, classifications, strict=True)
    ]


def circuit_failures(
    reports: Sequence[Mapping[str, Any]], classifications: Sequence[Classification], *,
    max_attempts: int,
) -> dict[str, int]:
    """The operations whose circuit must be asked, each with the retryable failures it
    counts (0: only read). An operation whose reports neither count nor have their
    decision read the circuit is left out (a round trip saved; their answer says
    NOT_READ)."""
    failures: dict[str, int] = {}
    for report, classification in zip(reports, classifications, strict=True):
        operation = report.get("operation")
        if operation and (
            classification.retryable
            or reads_circuit(classification, attempt_count=report.get("attempt_count", 0),
                             max_attempts=max_attempts)
        ):
            failures[operation] = failures.get(operation, 0) + classification.retryable
    return failures


def accepted_of(entry: ErrorLogEntry, circuit_state: str) -> Accepted:
    """The answer about a stored (or spooled) entry. Made as `Accepted(...)` would make it,
    but without the frozen dataclass's `__init__`, which sets each field through
    `object.__setattr__`: most of an answer's cost in a batch of 1,000."""
    accepted = object.__new__(Accepted)
    accepted.__dict__.update(
        id=entry.pk,
        event_id=entry.event_id,
        category=entry.category,
        severity=entry.severity,
        retryable=entry.retryable,
        recoverable=entry.recoverable,
        strategy=entry.strategy,
        retry_after_ms=entry.retry_after_ms,
        circuit=circuit_state,
        spooled=getattr(entry, "spooled", False),
    )
    return accepted


def ingest(
    reports: Sequence[Mapping[str, Any]], *, service_id: int, now: datetime, source: str = "api"
) -> list[Accepted]:
    """Classify, decide and store `reports` received at `now`; returns one Accepted per
    report, in order. The caller reads the clock once per request (the same `now` its
    validation used), so tests pass a fixed time.

    A report whose event_id was already stored for this service is answered from the
    stored row, so a resend gets the same answer and is stored once. While the database is
    unavailable the reports are spooled (spooled=True, id None); SpoolFull when there is
    no room for them.

    What a report's sender or its users said is scrubbed first (the service's rules,
    resilience/core/scrubbing.py): nothing unscrubbed is classified, stored or spooled.
    """
    scrubber = service_scrubber(service_id)
    reports = [scrubber.report(report) for report in reports]
    try:
        rules = classification_rules()
    except spool.DATABASE_DOWN:
        rules = classification_rules_last_known()  # classification needs no database
    policy = backoff_policy()
    max_attempts = conf.get("RETRY_MAX_ATTEMPTS")
    classifications = reports_classified(reports, rules=rules,
                                         by_cause=conf.get("CLASSIFY_BY_CAUSE"))
    # Retryable failures count against their operation's circuit, atomically and before
    # the decision reads it: one call per distinct operation in the request.
    # A circuit that cannot be read (Redis and the database down) reads UNKNOWN there.
    circuits = circuit_readings_for(
        service_id=service_id,
        failures=circuit_failures(reports, classifications, max_attempts=max_attempts),
    )

    def circuit_of(operation: str):
        return circuits.get(operation, NOT_READ if operation else NO_CIRCUIT)

    entries = [
        build_entry(
            report,
            service_id=service_id,
            source=source,
            now=now,
            policy=policy,
            max_attempts=max_attempts,
            classification=classification,
            circuit=circuit_of(report.get("operation") or "").view,
        )
        for report, classification in zip(reports, classifications, strict=True)
    ]
    stored = entry_writer.write(entries)
    return [accepted_of(entry, circuit_of(entry.operation).state) for entry in stored]
