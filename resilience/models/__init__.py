"""Faultline's core models, one module per concern; importing this package registers all."""

from resilience.models.attachments import EventAttachment
from resilience.models.audit import AuditEvent
from resilience.models.circuits import CircuitState, CircuitTransition
from resilience.models.core import (
    CATEGORY_CHOICES,
    SEVERITY_CHOICES,
    STRATEGY_CHOICES,
    ClassificationRule,
    ErrorGroup,
    ErrorLogEntry,
    ErrorMetric,
    GroupHistory,
    MetricDayGroup,
    MetricDayTotal,
    MetricHourTotal,
    Service,
    ServiceKey,
)
from resilience.models.dead_letters import DeadLetter, DeadLetterAttempt, ReplayTarget
from resilience.models.deferred import DeferredWrite
from resilience.models.feedback import UserFeedback
from resilience.models.group_seen import GroupEnvironment, GroupRelease

__all__ = [
    "CATEGORY_CHOICES",
    "SEVERITY_CHOICES",
    "STRATEGY_CHOICES",
    "AuditEvent",
    "CircuitState",
    "CircuitTransition",
    "ClassificationRule",
    "DeadLetter",
    "DeadLetterAttempt",
    "DeferredWrite",
    "ErrorGroup",
    "ErrorLogEntry",
    "ErrorMetric",
    "EventAttachment",
    "GroupEnvironment",
    "GroupHistory",
    "GroupRelease",
    "MetricDayGroup",
    "MetricDayTotal",
    "MetricHourTotal",
    "ReplayTarget",
    "Service",
    "ServiceKey",
    "UserFeedback",
]
