"""Error classification: map an incoming error report to a category and severity.

Pure standard-library code (no Django) so it can be used from views, Celery tasks and
tests alike. The code table is plain data (``DEFAULT_RULES``) so operators can override
individual entries without touching the logic.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Category(StrEnum):
    TRANSIENT = "TRANSIENT"
    PERMANENT = "PERMANENT"
    CONFIGURATION = "CONFIGURATION"
    BUSINESS_LOGIC = "BUSINESS_LOGIC"
    EXTERNAL_DEPENDENCY = "EXTERNAL_DEPENDENCY"
    RESOURCE_EXHAUSTION = "RESOURCE_EXHAUSTION"
    SECURITY = "SECURITY"
    DATA_CORRUPTION = "DATA_CORRUPTION"


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


SEVERITY_RANK: dict[Severity, int] = {
    Severity.LOW: 0,
    Severity.MEDIUM: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}


def max_severity(*sevs: Severity | str) -> Severity:
    """Highest of the given severities; LOW when called with none."""
    # Accept plain strings too (values read back from the database are str).
    return max((Severity(s) for s in sevs), key=SEVERITY_RANK.__getitem__, default=Severity.LOW)


@dataclass(frozen=True)
class Rule:
    category: Category
    severity: Severity


# Short aliases keep the table below one readable line per code.
_TRANSIENT = Rule(Category.TRANSIENT, Severity.MEDIUM)
_EXTERNAL = Rule(Category.EXTERNAL_DEPENDENCY, Severity.HIGH)
_PERMANENT_HIGH = Rule(Category.PERMANENT, Severity.HIGH)
_PERMANENT_MEDIUM = Rule(Category.PERMANENT, Severity.MEDIUM)
_BUSINESS_LOW = Rule(Category.BUSINESS_LOGIC, Severity.LOW)
_BUSINESS_MEDIUM = Rule(Category.BUSINESS_LOGIC, Severity.MEDIUM)
_CONFIG_HIGH = Rule(Category.CONFIGURATION, Severity.HIGH)
_CONFIG_CRITICAL = Rule(Category.CONFIGURATION, Severity.CRITICAL)
_SECURITY_HIGH = Rule(Category.SECURITY, Severity.HIGH)
_CORRUPTION_HIGH = Rule(Category.DATA_CORRUPTION, Severity.HIGH)
_CORRUPTION_MEDIUM = Rule(Category.DATA_CORRUPTION, Severity.MEDIUM)
_RESOURCE_CRITICAL = Rule(Category.RESOURCE_EXHAUSTION, Severity.CRITICAL)
_RESOURCE_HIGH = Rule(Category.RESOURCE_EXHAUSTION, Severity.HIGH)

DEFAULT_RULES: Mapping[str, Rule] = MappingProxyType(
    {
        # --- Faultline's own: handling an error failed (the in-process guard escalates)
        "FAULTLINE_HANDLER_FAILURE": Rule(Category.PERMANENT, Severity.CRITICAL),
        # --- Network / Node errno ---------------------------------------------------
        "ECONNREFUSED": _EXTERNAL,
        "ENOTFOUND": _EXTERNAL,
        "ECONNRESET": _TRANSIENT,
        "ETIMEDOUT": _TRANSIENT,
        "EPIPE": _TRANSIENT,
        "EAI_AGAIN": _TRANSIENT,
        "ECONNABORTED": _TRANSIENT,
        "EHOSTUNREACH": _TRANSIENT,
        "ENETUNREACH": _TRANSIENT,
        # --- Sequelize ----------------------------------------------------------------
        "SequelizeConnectionError": _EXTERNAL,
        "SequelizeConnectionRefusedError": _EXTERNAL,
        "SequelizeHostNotFoundError": _EXTERNAL,
        "SequelizeHostNotReachableError": _EXTERNAL,
        "SequelizeConnectionTimedOutError": _EXTERNAL,
        "SequelizeTimeoutError": _TRANSIENT,
        "SequelizeValidationError": _BUSINESS_LOW,
        "SequelizeUniqueConstraintError": _BUSINESS_MEDIUM,
        "SequelizeForeignKeyConstraintError": _CORRUPTION_HIGH,
        "SequelizeDatabaseError": _PERMANENT_HIGH,
        "SequelizeAccessDeniedError": _CONFIG_CRITICAL,
        # --- Redis (ioredis / node-redis / redis-py) ----------------------------------
        "ReplyError": _PERMANENT_MEDIUM,
        "AbortError": _TRANSIENT,
        "ConnectionTimeoutError": _TRANSIENT,
        "RedisConnectionError": _EXTERNAL,
        "redis.exceptions.ConnectionError": _EXTERNAL,
        "redis.exceptions.TimeoutError": _TRANSIENT,
        "NOAUTH": _CONFIG_HIGH,
        "WRONGPASS": _CONFIG_HIGH,
        "OOM": _RESOURCE_CRITICAL,  # "OOM command not allowed when used memory > maxmemory"
        # --- Resources ----------------------------------------------------------------
        "ENOMEM": _RESOURCE_CRITICAL,
        "EMFILE": _RESOURCE_HIGH,
        "ENOSPC": _RESOURCE_CRITICAL,
        # --- JS runtime (ValidationError / TypeError are shared with Python below) -----
        "ReferenceError": _PERMANENT_HIGH,
        "SyntaxError": _PERMANENT_HIGH,
        "RangeError": _PERMANENT_MEDIUM,
        # --- HTTP status ----------------------------------------------------------------
        "400": _BUSINESS_LOW,
        "401": _SECURITY_HIGH,
        "403": _SECURITY_HIGH,
        "404": _BUSINESS_LOW,
        "409": _BUSINESS_LOW,
        "422": _BUSINESS_LOW,
        "429": _TRANSIENT,  # rate limited: retry after a backoff, the limit will lift
        "500": _EXTERNAL,
        "502": _EXTERNAL,
        "503": _EXTERNAL,
        "504": _TRANSIENT,
        # --- Python: connections and timeouts -----------------------------------------
        "ConnectionError": _EXTERNAL,
        "ConnectionRefusedError": _EXTERNAL,
        "ConnectionAbortedError": _EXTERNAL,
        "ConnectionResetError": _TRANSIENT,
        "BrokenPipeError": _TRANSIENT,
        "TimeoutError": _TRANSIENT,
        "socket.timeout": _TRANSIENT,
        "requests.exceptions.Timeout": _TRANSIENT,
        "httpx.TimeoutException": _TRANSIENT,
        "celery.exceptions.TimeoutError": _TRANSIENT,
        "requests.exceptions.ConnectionError": _EXTERNAL,
        "httpx.ConnectError": _EXTERNAL,
        "urllib3.exceptions.MaxRetryError": _EXTERNAL,
        # --- Python: databases ----------------------------------------------------------
        "OperationalError": _EXTERNAL,
        "django.db.utils.OperationalError": _EXTERNAL,
        "psycopg2.OperationalError": _EXTERNAL,
        "sqlalchemy.exc.OperationalError": _EXTERNAL,
        "InterfaceError": _EXTERNAL,
        "IntegrityError": _CORRUPTION_HIGH,
        "DataError": _CORRUPTION_HIGH,
        "DatabaseError": _PERMANENT_HIGH,
        # --- Python: security -------------------------------------------------------------
        "PermissionError": _SECURITY_HIGH,
        "PermissionDenied": _SECURITY_HIGH,
        "django.core.exceptions.PermissionDenied": _SECURITY_HIGH,
        "SuspiciousOperation": _SECURITY_HIGH,
        # --- Python: configuration ----------------------------------------------------------
        "ImproperlyConfigured": _CONFIG_HIGH,
        "ModuleNotFoundError": _CONFIG_HIGH,
        "ImportError": _CONFIG_HIGH,
        # --- Python (and JS) programming errors ---------------------------------------------
        "KeyError": _PERMANENT_HIGH,
        "IndexError": _PERMANENT_HIGH,
        "AttributeError": _PERMANENT_HIGH,
        "TypeError": _PERMANENT_HIGH,
        "NameError": _PERMANENT_HIGH,
        "AssertionError": _PERMANENT_HIGH,
        "NotImplementedError": _PERMANENT_HIGH,
        "ZeroDivisionError": _PERMANENT_HIGH,
        # --- Python (and JS) validation / not found ------------------------------------------
        "ValueError": _BUSINESS_LOW,
        "ValidationError": _BUSINESS_LOW,
        "django.core.exceptions.ValidationError": _BUSINESS_LOW,
        "pydantic.ValidationError": _BUSINESS_LOW,
        "ObjectDoesNotExist": _BUSINESS_LOW,
        "DoesNotExist": _BUSINESS_LOW,
        "Http404": _BUSINESS_LOW,
        # --- Python: resources, OS, decoding --------------------------------------------------
        "MemoryError": _RESOURCE_CRITICAL,
        "RecursionError": _RESOURCE_HIGH,
        "OSError": _PERMANENT_MEDIUM,
        "UnicodeDecodeError": _CORRUPTION_MEDIUM,
        "JSONDecodeError": _CORRUPTION_MEDIUM,
    }
)

_RETRYABLE_CATEGORIES = frozenset({Category.TRANSIENT, Category.EXTERNAL_DEPENDENCY})
_UNRECOVERABLE_CATEGORIES = frozenset(
    {Category.SECURITY, Category.DATA_CORRUPTION, Category.CONFIGURATION}
)
# Client errors that retrying can never fix, whatever the category says.
_NON_RETRYABLE_STATUSES = frozenset({401, 403, 404, 422})
_UNKNOWN_RULE = _PERMANENT_MEDIUM


@dataclass(frozen=True)
class Classification:
    category: Category
    severity: Severity
    retryable: bool
    recoverable: bool
    code: str | None
    matched: bool
    cause: Classification | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, nested causes included (built iteratively: no recursion limit)."""
        root: dict[str, Any] = {}
        out, node = root, self
        while True:
            out.update(
                category=str(node.category),
                severity=str(node.severity),
                retryable=node.retryable,
                recoverable=node.recoverable,
                code=node.code,
                matched=node.matched,
                cause=None,
            )
            if node.cause is None:
                return root
            out["cause"] = {}
            out, node = out["cause"], node.cause


def _int_to_code(value: int) -> str | None:
    try:
        return str(value)
    except ValueError:  # absurdly long ints exceed Python's int->str digit limit
        return None


def _status_int(value: Any) -> int | None:
    """HTTP status as an int from an int or an ASCII-digit string; None otherwise."""
    if isinstance(value, bool):  # bool is an int subclass; True is not status 1
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 10:
            return int(text)
    return None


def error_code(report: Mapping[str, Any]) -> str | None:
    """The code to look up for one report level: code, else name, else status, else errno."""
    try:
        return _error_code(report)
    except Exception:  # noqa: BLE001 - never let a malformed report break ingestion
        return None


def _error_code(report: Mapping[str, Any]) -> str | None:
    if not isinstance(report, Mapping):
        return None
    code = report.get("code")
    if isinstance(code, str) and code.strip():
        return code.strip()
    if isinstance(code, int) and not isinstance(code, bool):
        as_text = _int_to_code(code)
        if as_text:
            return as_text
    name = report.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    status = _status_int(report.get("status"))
    if status is not None:
        return str(status)
    err = report.get("errno")
    if isinstance(err, int) and not isinstance(err, bool):
        # Node reports negative errnos (-111); the symbolic name is what we key on.
        symbolic = _errno.errorcode.get(abs(err))
        return symbolic if symbolic else _int_to_code(err)
    if isinstance(err, str) and err.strip():
        return err.strip()
    return None


def _lookup(code: str, table: Mapping[str, Rule]) -> Rule | None:
    candidates = [code, code.upper()]
    if "." in code:
        # "psycopg2.OperationalError": full dotted name first, then the bare class name.
        last = code.rsplit(".", 1)[1]
        if last:
            candidates += [last, last.upper()]
    for candidate in candidates:
        rule = table.get(candidate)
        if rule is not None:
            return rule
    return None


def _is_retryable(category: Category, code: str | None, report: Mapping[str, Any]) -> bool:
    if category not in _RETRYABLE_CATEGORIES:
        return False
    status = _status_int(report.get("status"))
    if status in _NON_RETRYABLE_STATUSES:
        return False
    return not (code is not None and _status_int(code) in _NON_RETRYABLE_STATUSES)


def _is_recoverable(category: Category, severity: Severity) -> bool:
    return category not in _UNRECOVERABLE_CATEGORIES and severity != Severity.CRITICAL


def _unknown(code: str | None = None, cause: Classification | None = None) -> Classification:
    return Classification(
        category=_UNKNOWN_RULE.category,
        severity=_UNKNOWN_RULE.severity,
        retryable=False,
        recoverable=_is_recoverable(_UNKNOWN_RULE.category, _UNKNOWN_RULE.severity),
        code=code,
        matched=False,
        cause=cause,
    )


def _classify_one(
    report: Any, table: Mapping[str, Rule], cause: Classification | None
) -> Classification:
    if not isinstance(report, Mapping):
        return _unknown(cause=cause)
    code = error_code(report)
    if code is None and cause is not None:
        # A bare wrapper ("Error: request failed") around ECONNREFUSED is really an
        # external-dependency failure: inherit the cause's verdict, keep code=None.
        return Classification(
            category=cause.category,
            severity=cause.severity,
            retryable=cause.retryable,
            recoverable=cause.recoverable,
            code=None,
            matched=cause.matched,
            cause=cause,
        )
    rule = _lookup(code, table) if code is not None else None
    if rule is None:
        return _unknown(code=code, cause=cause)
    category, severity = Category(rule.category), Severity(rule.severity)
    return Classification(
        category=category,
        severity=severity,
        retryable=_is_retryable(category, code, report),
        recoverable=_is_recoverable(category, severity),
        code=code,
        matched=True,
        cause=cause,
    )


def classify(
    report: Any, rules: Mapping[str, Rule] | None = None, *, max_depth: int = 8
) -> Classification:
    """Classify an error report (and up to ``max_depth`` nested causes). Never raises.

    ``rules`` are operator overrides layered over ``DEFAULT_RULES``. Only mapping-valued
    ``cause`` entries are followed; junk causes are ignored rather than classified.
    """
    try:
        # An override for a code replaces the default rule for that code.
        table: Mapping[str, Rule] = {**DEFAULT_RULES, **rules} if rules else DEFAULT_RULES
        # Walk the chain iteratively: JSON depth can exceed the recursion limit.
        chain = [report]
        node = report
        while len(chain) <= max(0, max_depth) and isinstance(node, Mapping):
            nxt = node.get("cause")
            if not isinstance(nxt, Mapping):
                break
            chain.append(nxt)
            node = nxt
        result = _classify_one(chain[-1], table, None)
        for item in reversed(chain[:-1]):
            result = _classify_one(item, table, result)
        return result
    except Exception:  # noqa: BLE001 - defensive: a classification must always come back
        return _unknown()


def with_severity_floor(classification: Classification, floor: Severity | str) -> Classification:
    """The classification with its severity raised to at least `floor`, never lowered.

    A reporter's own level (a Sentry event's "fatal") says how bad it is even when the
    code is unknown. Raised to CRITICAL, the error is no longer recoverable: the same rule
    the table follows, so the decision becomes IMMEDIATE_ALERT.
    """
    severity = max_severity(classification.severity, floor)
    if severity == classification.severity:
        return classification
    return replace(
        classification,
        severity=severity,
        recoverable=classification.recoverable and severity != Severity.CRITICAL,
    )
