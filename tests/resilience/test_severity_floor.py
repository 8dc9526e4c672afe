"""A reporter's own level as a severity floor (pure), and build_entry honouring it."""

from datetime import UTC, datetime

from resilience.core.classification import Category, Classification, Severity, with_severity_floor
from resilience.core.strategy import CLOSED_CIRCUIT
from resilience.ingest.service import backoff_policy, build_entry, reporter_severity


def classification(severity: Severity, category=Category.TRANSIENT) -> Classification:
    return Classification(category=category, severity=severity, retryable=True,
                          recoverable=True, code="ETIMEDOUT", matched=True)


def test_a_floor_raises_the_severity_but_never_lowers_it():
    low = classification(Severity.LOW)
    assert with_severity_floor(low, "MEDIUM").severity == Severity.MEDIUM
    high = classification(Severity.HIGH)
    assert with_severity_floor(high, "MEDIUM") is high


def test_raised_to_critical_only_the_severity_moves():
    # The seed's isRecoverable reads the category alone.
    raised = with_severity_floor(classification(Severity.MEDIUM), Severity.CRITICAL)
    assert raised.severity == Severity.CRITICAL
    assert raised.recoverable is True
    assert raised.category == Category.TRANSIENT and raised.retryable is True


def _entry(report, severity=Severity.MEDIUM):
    return build_entry(report, service_id=1, source="sentry",
                       now=datetime(2025, 6, 1, tzinfo=UTC), policy=backoff_policy(),
                       max_attempts=3,
                       classification=reporter_severity(report, classification(severity)),
                       circuit=CLOSED_CIRCUIT)


def test_build_entry_decides_again_with_the_floor(settings):
    assert _entry({}).strategy == "RETRY"
    entry = _entry({"severity_floor": "CRITICAL"})
    assert entry.severity == "CRITICAL"
    assert entry.strategy == "IMMEDIATE_ALERT"
    assert entry.classification["severity"] == "CRITICAL"
    lower = _entry({"severity_floor": "MEDIUM"}, severity=Severity.HIGH)
    assert lower.severity == "HIGH" and lower.strategy == "RETRY"
