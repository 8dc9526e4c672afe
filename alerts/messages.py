"""The alerts the seed's ServiceErrorHandler raises: level and message per situation (pure).

The seed (handleWithFallback, handleWithDeadLetter, handleWithImmediateAlert, escalateError)
calls ``alertSystem.sendAlert({level, message, ...})`` with exactly these; Faultline raises
them from the digest (IMMEDIATE_ALERT and DEAD_LETTER decisions, escalations recorded as
FAULTLINE_HANDLER_FAILURE) and from reported outcomes (a FALLBACK that did not succeed).
"""

from __future__ import annotations

from alerts.routing import Kind

UNKNOWN_OPERATION = "unknown operation"

# kind → (level, message template); {operation} is the operation's name.
SEED_ALERTS: dict[str, tuple[str, str]] = {
    Kind.FALLBACK_FAILED: ("HIGH", "Fallback failed for {operation}"),
    Kind.DEAD_LETTER: ("HIGH", "Operation moved to dead letter queue: {operation}"),
    Kind.IMMEDIATE: ("CRITICAL", "Critical error in {operation}"),
    Kind.ESCALATION: ("CRITICAL", "Error handling system failure"),
}


def seed_alert(kind: str, *, operation: str) -> tuple[str, str]:
    """(level, message) of the seed's alert of this kind; KeyError for Faultline's own."""
    level, template = SEED_ALERTS[kind]
    return level, template.format(operation=operation or UNKNOWN_OPERATION)
