"""The in-process guard: Faultline's own handling for code that runs inside the project.

    with guard("timer.execute", timer_id=timer.pk):
        execute(timer)

    @guard("event.publish", task=True)   # on a bound Celery task: retries are Celery retries
    def publish(self, event): ...

On failure the error is classified and recorded through the same ingest service as the
HTTP API, a strategy is decided, and the guard carries it out: a Celery retry with the
backoff (never a sleep), the circuit respected, the operation's registered fallback run,
the work dead-lettered, or an immediate alert. If handling itself fails, that escalates as
a CRITICAL report and the original error still propagates: nothing is swallowed silently.
"""

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from resilience.core.exception_report import exception_codes, report_from_exception
from resilience.core.report_schema import validate_report
from resilience.core.safe_json import replace_bad_text
from resilience.core.strategy import Strategy
from resilience.handling.fallbacks import FallbackContext, fallback_for

log = logging.getLogger("faultline.guard")
escalation_log = logging.getLogger("faultline.escalation")

GUARD_SERVICE_SLUG = "faultline"
# Context keys that become report fields; anything else goes into the report's context.
_REPORT_KEYS = ("component", "campaign_id", "timer_id", "user_id", "environment", "release")


class CircuitOpenError(RuntimeError):
    """The operation's circuit refused the call and no fallback took it."""

    def __init__(self, operation: str, retry_after_ms: int | None) -> None:
        super().__init__(f"circuit for {operation!r} is open; retry in {retry_after_ms} ms")
        self.operation = operation
        self.retry_after_ms = retry_after_ms


@dataclass
class HandlingResult:
    """What handle_error did with one failure."""

    strategy: str
    entry_id: int | None = None
    category: str | None = None
    severity: str | None = None
    retry_after_ms: int | None = None
    fallback_ran: bool = False
    fallback_result: Any = None
    dead_letter_id: int | None = None
    escalated: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> bool:
        """True when the caller may carry on: a fallback took over the work."""
        return self.fallback_ran and not self.escalated


def guard_service_id() -> int:
    """The service the guard's own reports and dead letters belong to (made on first use)."""
    from resilience.models import Service

    service, _ = Service.objects.get_or_create(
        slug=GUARD_SERVICE_SLUG,
        defaults={"name": "Faultline (in-process)", "description": "Errors caught by guard()"},
    )
    return service.pk


def _report(exc: BaseException, operation: str, context: Mapping[str, Any]) -> dict[str, Any]:
    raw = report_from_exception(exc)
    raw["operation"] = operation
    raw["attempt_count"] = int(context.get("attempt_count") or 0)
    if context.get("payload") is not None:
        raw["payload"] = context["payload"]
    for key in _REPORT_KEYS:
        if context.get(key) not in (None, ""):
            raw[key] = str(context[key])
    extra = {k: v for k, v in context.items() if k not in (*_REPORT_KEYS, "attempt_count",
                                                           "payload", "task", "operation")}
    raw["context"] = {k: v if isinstance(v, str | int | float | bool | None) else repr(v)
                      for k, v in extra.items()}
    return validate_report(raw, where="guard", now=timezone.now())


def _record(report: dict[str, Any]):
    from resilience.ingest.service import ingest

    return ingest([report], service_id=guard_service_id(), now=timezone.now(),
                  source="guard")[0]


def _set_outcome(entry_id: int, succeeded: bool) -> None:
    # The same service as POST /api/v1/errors/{id}/outcome/, so the rollups count it too.
    from resilience.handling.outcomes import entry_outcome_record

    entry_outcome_record(entry_id=entry_id, succeeded=succeeded)


def _run_fallback(
    result: HandlingResult, exc: BaseException, operation: str, context: Mapping[str, Any]
) -> None:
    fallback = fallback_for(operation)
    if fallback is None:
        # None to succeed: a FAILED outcome, which raises the seed's "Fallback failed".
        if result.entry_id and result.strategy == Strategy.FALLBACK:
            _set_outcome(result.entry_id, succeeded=False)
        return
    ctx = FallbackContext(operation=operation, error=exc, context=context,
                          payload=context.get("payload"))
    try:
        with transaction.atomic():
            result.fallback_result = fallback(ctx)
    except Exception as fallback_exc:
        # Not a failure of the handling (no escalation): the seed's {success: false}, so the
        # FAILED outcome raises "Fallback failed for <op>" (HIGH) and the error propagates.
        log.error("fallback for %r failed: %r", operation, fallback_exc, exc_info=fallback_exc)
        if result.entry_id:
            _set_outcome(result.entry_id, succeeded=False)
        return
    result.fallback_ran = True
    if result.entry_id:
        _set_outcome(result.entry_id, succeeded=True)


def _dead_letter(result: HandlingResult, exc: BaseException, operation: str,
                 context: Mapping[str, Any], service_id: int) -> None:
    from resilience.dead_letters.services import dead_letter_create
    from resilience.models import ErrorLogEntry

    letter = dead_letter_create(
        service_id=service_id,
        operation=operation,
        payload=context.get("payload"),
        reason=f"{type(exc).__name__}: {exc}"[:2000],
        category=result.category or "",
        attempt_count=int(context.get("attempt_count") or 0),
        entry=ErrorLogEntry.objects.filter(pk=result.entry_id).first(),
    )
    result.dead_letter_id = letter.pk


def _escalate(result: HandlingResult, exc: BaseException, operation: str,
              failure: BaseException) -> None:
    """Handling failed: say so as loudly as we can, without hiding the original error."""
    result.escalated = True
    result.errors.append(repr(failure))
    escalation_log.critical(
        "handling %s for %r failed: %r", type(exc).__name__, operation, failure, exc_info=failure
    )
    try:
        _record({
            "code": "FAULTLINE_HANDLER_FAILURE",
            # The seed's escalateError is a CRITICAL alert whatever the category says.
            "severity_floor": "CRITICAL",
            "name": type(failure).__name__,
            # Not validated like other reports: keep it to text PostgreSQL can hold.
            "message": replace_bad_text(
                f"Handling {type(exc).__name__} for {operation} failed: {failure}"[:32_768]),
            "operation": replace_bad_text(operation[:200]),
            "cause": {"name": type(exc).__name__,
                      "message": replace_bad_text(str(exc)[:32_768])},
        })
    except Exception as record_exc:  # noqa: BLE001 - the log line above is the last resort
        escalation_log.critical("could not record the escalation either: %r", record_exc)


def handle_error(exc: BaseException, context: Mapping[str, Any] | None = None) -> HandlingResult:
    """Classify, record, decide and carry out the strategy for `exc`.

    `context` holds `operation` (required for fallbacks and circuits), `attempt_count`,
    `payload`, ids (`campaign_id`, `timer_id`, `user_id`, `component`) and anything else
    worth keeping. Never raises: a failure while handling is escalated and reported in
    the result (`escalated`, `errors`).
    """
    context = dict(context or {})
    operation = str(context.get("operation") or "unknown")
    result = HandlingResult(strategy=Strategy.FALLBACK.value)
    try:
        report = _report(exc, operation, context)
        accepted = _record(report)
        result.entry_id = accepted.id
        result.strategy = accepted.strategy
        result.category = accepted.category
        result.severity = accepted.severity
        result.retry_after_ms = accepted.retry_after_ms

        if result.strategy in (Strategy.FALLBACK, Strategy.CIRCUIT_BREAK):
            _run_fallback(result, exc, operation, context)
        elif result.strategy == Strategy.DEAD_LETTER:
            _dead_letter(result, exc, operation, context, guard_service_id())
        elif result.strategy == Strategy.IMMEDIATE_ALERT:
            log.critical("%s in %s needs attention now (entry %s)", type(exc).__name__,
                         operation, result.entry_id)
            # The seed's handleWithImmediateAlert: "for critical errors, also try fallback".
            _run_fallback(result, exc, operation, context)
    except Exception as failure:  # noqa: BLE001 - escalated, never swallowed
        _escalate(result, exc, operation, failure)
    return result


class guard:
    """Run a block under Faultline's handling; see the module docstring."""

    def __init__(self, operation: str, *, task: Any = None, **context: Any) -> None:
        self.operation = operation
        self.task = task
        self.context = context
        self.result: HandlingResult | None = None
        self._probe_token: str | None = None

    # --- circuit ------------------------------------------------------------------
    def _ask_circuit(self) -> None:
        from resilience.circuits.services import circuit_permit

        try:
            permit = circuit_permit(operation=self.operation)
        except Exception as exc:  # noqa: BLE001 - a broken breaker must not stop the work
            escalation_log.critical("circuit check for %r failed: %r", self.operation, exc)
            return
        if not permit.allowed:
            raise CircuitOpenError(self.operation, permit.retry_after_ms)
        self._probe_token = permit.probe_token

    def _tell_circuit(self, succeeded: bool, counts: bool = True) -> None:
        if not self._probe_token:
            return
        from resilience.circuits import services as circuits

        try:
            if succeeded:
                circuits.circuit_record_success(operation=self.operation,
                                                probe_token=self._probe_token)
            else:
                circuits.circuit_record_failure(operation=self.operation,
                                                probe_token=self._probe_token, counts=counts)
        except Exception as exc:  # noqa: BLE001 - the probe slot expires on its own
            escalation_log.warning("could not report probe outcome for %r: %r",
                                   self.operation, exc)

    # --- context manager ------------------------------------------------------------
    def __enter__(self) -> "guard":
        # A block cannot be skipped from here: with an open circuit, `with guard(...)`
        # raises CircuitOpenError; the decorator form runs the fallback instead.
        self._ask_circuit()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self._tell_circuit(succeeded=True)
            return False
        if isinstance(exc, CircuitOpenError):
            return False
        context = {**self.context, "operation": self.operation}
        if self.task is not None and "attempt_count" not in context:
            context["attempt_count"] = getattr(self.task.request, "retries", 0)
        self.result = handle_error(exc, context)
        self._tell_circuit(succeeded=False,
                           counts=self.result.category in ("TRANSIENT", "EXTERNAL_DEPENDENCY"))
        _attach(exc, self.result)
        if self.result.handled:
            return True  # the fallback took over the work
        if (
            self.task is not None
            and self.result.strategy == Strategy.RETRY
            and not self.result.escalated
            and retries_code(exc)
        ):
            countdown = (self.result.retry_after_ms or 0) / 1000
            raise self.task.retry(exc=exc, countdown=countdown)
        return False  # the original error propagates

    # --- decorator ------------------------------------------------------------------
    def __call__(self, func: Callable) -> Callable:
        operation, context, bind_task = self.operation, self.context, self.task

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            task = args[0] if bind_task is True and args else bind_task
            instance = guard(operation, task=task, **context)
            try:
                instance._ask_circuit()
            except CircuitOpenError as refused:
                return _refused(instance, refused)
            try:
                value = func(*args, **kwargs)
            except BaseException as exc:
                if instance.__exit__(type(exc), exc, exc.__traceback__):
                    return instance.result.fallback_result
                raise
            instance._tell_circuit(succeeded=True)
            return value

        return wrapper


def retries_code(exc: BaseException) -> bool:
    """The seed's RetryHandler.shouldRetry also asks isRetryableErrorCode: only errors
    with a code in GUARD_RETRYABLE_CODES are retried in-process (by code, exception type
    or any of its base types, errno name or status)."""
    from resilience import conf

    return not set(conf.get("GUARD_RETRYABLE_CODES")).isdisjoint(exception_codes(exc))


def _refused(instance: guard, refused: CircuitOpenError):
    """An open circuit: the fallback if there is one, else a Celery retry or the error."""
    fallback = fallback_for(instance.operation)
    if fallback is not None:
        try:
            return fallback(FallbackContext(operation=instance.operation, error=refused,
                                            context=instance.context,
                                            payload=instance.context.get("payload")))
        except Exception as fallback_exc:  # the seed's {success: false}
            log.error("fallback for %r failed behind an open circuit: %r", instance.operation,
                      fallback_exc, exc_info=fallback_exc)
    if instance.task is not None:
        raise instance.task.retry(exc=refused, countdown=(refused.retry_after_ms or 0) / 1000)
    raise refused


def _attach(exc: BaseException, result: HandlingResult) -> None:
    """Let whoever catches the error further up see what Faultline decided."""
    # Some C-level exceptions refuse new attributes; the result is still returned.
    with contextlib.suppress(AttributeError):
        exc.faultline = result  # type: ignore[attr-defined]
