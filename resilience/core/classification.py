"""Error classification: map an incoming error report to a category and severity.

The seed's ``ErrorClassifier`` (../shared/seed, "Error Classification System"), as pure
standard-library code so views, Celery tasks and tests use it alike:

- the code comes from ``code``, then ``name``, then ``status``, then ``errno``
  (``extractErrorCode``); no code at all is ``UNKNOWN_ERROR``;
- the code table maps a code to a *category* only (``errorPatterns``); an unknown code is
  PERMANENT;
- the severity follows the category (``determineSeverity``);
- retryable: TRANSIENT or EXTERNAL_DEPENDENCY, and the status (else the code) is not
  401/403/404/422 (``isRetryable`` / ``isNonRetryableError``);
- recoverable: not DATA_CORRUPTION or SECURITY (``isRecoverable``);
- the cause chain is classified too (``causedBy``).

Beyond the seed (docs/seed-conformance.md): Python and Node names the seed lacks are
added to the table with their category only; operators' rules may also set a severity;
and when the outermost code is unknown (or only says "something wrapped an error", such
as Node's ``fetch failed``) the nearest cause with a known code decides
(``classified_by="cause"``, switch ``by_cause=False`` for the seed's verdict).
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Hashable, Iterable, Mapping
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

UNKNOWN_CODE = "UNKNOWN_ERROR"  # the seed's extractErrorCode when nothing identifies the error


def max_severity(*sevs: Severity | str) -> Severity:
    """Highest of the given severities; LOW when called with none."""
    # Accept plain strings too (values read back from the database are str).
    return max((Severity(s) for s in sevs), key=SEVERITY_RANK.__getitem__, default=Severity.LOW)


# The seed's determineSeverity: the category alone decides.
SEVERITY_BY_CATEGORY: Mapping[Category, Severity] = MappingProxyType(
    {
        Category.RESOURCE_EXHAUSTION: Severity.CRITICAL,
        Category.DATA_CORRUPTION: Severity.CRITICAL,
        Category.SECURITY: Severity.HIGH,
        Category.PERMANENT: Severity.HIGH,
        Category.CONFIGURATION: Severity.HIGH,
        Category.EXTERNAL_DEPENDENCY: Severity.MEDIUM,
        Category.BUSINESS_LOGIC: Severity.MEDIUM,
        Category.TRANSIENT: Severity.LOW,
    }
)


def severity_for(category: Category | str) -> Severity:
    return SEVERITY_BY_CATEGORY[Category(category)]


@dataclass(frozen=True)
class Rule:
    """A code's category; `severity` is set only by an operator's override (None: follows
    the category)."""

    category: Category
    severity: Severity | None = None

    @property
    def effective_severity(self) -> Severity:
        return Severity(self.severity) if self.severity else severity_for(self.category)


_T = Category.TRANSIENT
_P = Category.PERMANENT
_C = Category.CONFIGURATION
_B = Category.BUSINESS_LOGIC
_E = Category.EXTERNAL_DEPENDENCY
_R = Category.RESOURCE_EXHAUSTION
_S = Category.SECURITY
_D = Category.DATA_CORRUPTION

# The seed's errorPatterns, every row, in its order. Nothing else may change these.
SEED_CODE_TABLE: Mapping[str, Category] = MappingProxyType(
    {
        # Database errors
        "ECONNREFUSED": _T,
        "ENOTFOUND": _C,
        "ECONNRESET": _T,
        "ETIMEDOUT": _T,
        "SequelizeConnectionError": _T,
        "SequelizeValidationError": _B,
        "SequelizeUniqueConstraintError": _B,
        # Redis errors
        "ConnectionError": _T,
        "TimeoutError": _T,
        "ReplyError": _P,
        # System errors
        "ENOMEM": _R,
        "EMFILE": _R,
        "ENOSPC": _R,
        # Validation errors
        "ValidationError": _B,
        "TypeError": _B,
        "ReferenceError": _B,
        # HTTP errors
        "401": _S,
        "403": _S,
        "404": _B,
        "429": _E,
        "500": _E,
        "502": _E,
        "503": _E,
        "504": _E,
    }
)

# Faultline's additions: names the seed lacks, each placed by the seed's own reasoning
# (a refused or reset connection is TRANSIENT like ECONNREFUSED, a missing host or module
# is CONFIGURATION like ENOTFOUND, ...). Severity follows the category, as in the seed.
ADDED_CODE_TABLE: Mapping[str, Category] = MappingProxyType(
    {
        # Faultline's own: handling an error failed (the guard escalates it as CRITICAL).
        "FAULTLINE_HANDLER_FAILURE": _P,
        # Node / libuv errno names and undici
        "EPIPE": _T,
        "EAI_AGAIN": _T,
        "ECONNABORTED": _T,
        "EHOSTUNREACH": _T,
        "ENETUNREACH": _T,
        "ENETDOWN": _T,
        "EHOSTDOWN": _T,
        "ESOCKETTIMEDOUT": _T,
        "EADDRINUSE": _C,
        "EACCES": _S,
        "EPERM": _S,
        "ENFILE": _R,
        "UND_ERR_CONNECT_TIMEOUT": _T,
        "UND_ERR_HEADERS_TIMEOUT": _T,
        "UND_ERR_BODY_TIMEOUT": _T,
        "UND_ERR_SOCKET": _T,
        "fetch failed": _E,  # Node's fetch(): the real reason is in `cause` (see WRAPPER_CODES)
        "AbortError": _T,
        "SyntaxError": _B,
        "RangeError": _B,
        # Sequelize's other errors
        "SequelizeConnectionRefusedError": _T,
        "SequelizeConnectionTimedOutError": _T,
        "SequelizeConnectionAcquireTimeoutError": _T,
        "SequelizeTimeoutError": _T,
        "SequelizeHostNotFoundError": _C,
        "SequelizeHostNotReachableError": _T,
        "SequelizeAccessDeniedError": _C,
        "SequelizeForeignKeyConstraintError": _B,
        "SequelizeExclusionConstraintError": _B,
        "SequelizeDatabaseError": _P,
        # Redis (ioredis, node-redis, redis-py)
        "MaxRetriesPerRequestError": _T,
        "ConnectionTimeoutError": _T,
        "redis.exceptions.ConnectionError": _T,
        "redis.exceptions.TimeoutError": _T,
        "redis.exceptions.BusyLoadingError": _T,
        "redis.exceptions.ResponseError": _P,
        "redis.exceptions.AuthenticationError": _C,
        "NOAUTH": _C,
        "WRONGPASS": _C,
        "OOM": _R,  # "OOM command not allowed when used memory > maxmemory"
        # HTTP statuses the seed does not list
        "400": _B,
        "408": _T,
        "409": _B,
        "422": _B,
        # Python: connections and timeouts
        "ConnectionRefusedError": _T,
        "ConnectionResetError": _T,
        "ConnectionAbortedError": _T,
        "BrokenPipeError": _T,
        "socket.timeout": _T,
        "socket.gaierror": _C,
        "requests.exceptions.ConnectionError": _T,
        "requests.exceptions.Timeout": _T,
        "requests.exceptions.ConnectTimeout": _T,
        "requests.exceptions.ReadTimeout": _T,
        "httpx.ConnectError": _T,
        "httpx.TimeoutException": _T,
        "httpx.ConnectTimeout": _T,
        "httpx.ReadTimeout": _T,
        "httpx.RemoteProtocolError": _T,
        "urllib3.exceptions.NewConnectionError": _T,
        "urllib3.exceptions.MaxRetryError": _E,  # a wrapper: its reason is the cause
        "celery.exceptions.TimeoutError": _T,
        # Python: databases (psycopg 2 and 3, Django, SQLAlchemy)
        "OperationalError": _T,
        "InterfaceError": _T,
        "psycopg2.OperationalError": _T,
        "psycopg.OperationalError": _T,
        "django.db.utils.OperationalError": _T,
        "sqlalchemy.exc.OperationalError": _T,
        "IntegrityError": _B,  # a constraint said no, like SequelizeUniqueConstraintError
        "DataError": _B,  # a value the column refuses, like SequelizeValidationError
        "DatabaseError": _P,
        "ProgrammingError": _P,
        # Python: security
        "PermissionError": _S,
        "PermissionDenied": _S,
        "SuspiciousOperation": _S,
        # Python: configuration
        "ImproperlyConfigured": _C,
        "ModuleNotFoundError": _C,
        "ImportError": _C,
        # Python: programming errors
        "KeyError": _P,
        "IndexError": _P,
        "AttributeError": _P,
        "NameError": _P,
        "AssertionError": _P,
        "NotImplementedError": _P,
        "ZeroDivisionError": _P,
        # Python: validation, not found
        "ValueError": _B,
        "pydantic.ValidationError": _B,
        "ObjectDoesNotExist": _B,
        "DoesNotExist": _B,
        "Http404": _B,
        # Python: resources, decoding
        "MemoryError": _R,
        "RecursionError": _R,
        "OSError": _P,
        "UnicodeDecodeError": _D,
        "JSONDecodeError": _D,
    }
)

# The default table: the additions under the seed's rows (where a name is in both, the
# seed's row is the one kept; a test checks there is no such name).
DEFAULT_RULES: Mapping[str, Rule] = MappingProxyType(
    {code: Rule(category) for code, category in {**ADDED_CODE_TABLE, **SEED_CODE_TABLE}.items()}
)

# Codes that say only that something was wrapped: with by_cause, a known cause decides
# even though these are in the table; alone, their own row stands.
WRAPPER_CODES = frozenset({"fetch failed", "MaxRetryError", "urllib3.exceptions.MaxRetryError"})

_RETRYABLE_CATEGORIES = frozenset({Category.TRANSIENT, Category.EXTERNAL_DEPENDENCY})
_UNRECOVERABLE_CATEGORIES = frozenset({Category.SECURITY, Category.DATA_CORRUPTION})
# The seed's isNonRetryableError: client errors that retrying can never fix.
NON_RETRYABLE_CODES = frozenset({"401", "403", "404", "422"})


@dataclass(frozen=True)
class Classification:
    category: Category
    severity: Severity
    retryable: bool
    recoverable: bool
    code: str
    matched: bool  # some rule decided (by this level's code or a cause's)
    cause: Classification | None = None
    classified_by: str = "default"  # "code", "cause" (a cause's code decided) or "default"

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
                classified_by=node.classified_by,
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
    """The code of one report level: code, else name, else status, else errno (the seed's
    extractErrorCode); None when there is none."""
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
        # Node's fetch() throws TypeError("fetch failed") for every network failure; as a
        # TypeError it would read as a programming error (the seed's BUSINESS_LOGIC).
        if name.strip() == "TypeError" and report.get("message") == "fetch failed":
            return "fetch failed"
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


def lookup(code: str, table: Mapping[str, Rule]) -> Rule | None:
    """The rule for `code`: as given, upper-cased, then (for a dotted name such as
    "psycopg2.OperationalError") the bare class name."""
    candidates = [code, code.upper()]
    if "." in code:
        last = code.rsplit(".", 1)[1]
        if last:
            candidates += [last, last.upper()]
    for candidate in candidates:
        rule = table.get(candidate)
        if rule is not None:
            return rule
    return None


def _is_wrapper(code: str | None) -> bool:
    return code is not None and (code in WRAPPER_CODES or code.rsplit(".", 1)[-1] in WRAPPER_CODES)


def _non_retryable(report: Mapping[str, Any]) -> bool:
    """The seed's isNonRetryableError: the status if there is one, else the code."""
    status = report.get("status")
    if status is not None and not isinstance(status, bool):
        as_int = _status_int(status)
        value = str(as_int) if as_int is not None else str(status)
    else:
        value = report.get("code")
        value = _int_to_code(value) if isinstance(value, int) else value
    return isinstance(value, str) and value.strip() in NON_RETRYABLE_CODES


def _verdict(
    rule: Rule,
    *,
    code: str,
    reports: list[Mapping[str, Any]],
    cause: Classification | None,
    classified_by: str,
) -> Classification:
    category = Category(rule.category)
    return Classification(
        category=category,
        severity=rule.effective_severity,
        # The level's own status/code counts, and so does the deciding cause's.
        retryable=category in _RETRYABLE_CATEGORIES
        and not any(_non_retryable(r) for r in reports),
        recoverable=category not in _UNRECOVERABLE_CATEGORIES,
        code=code,
        matched=True,
        cause=cause,
        classified_by=classified_by,
    )


def _unknown(code: str | None = None, cause: Classification | None = None) -> Classification:
    category = Category.PERMANENT
    return Classification(
        category=category,
        severity=severity_for(category),
        retryable=False,
        recoverable=category not in _UNRECOVERABLE_CATEGORIES,
        code=code or UNKNOWN_CODE,
        matched=False,
        cause=cause,
    )


def _chain(report: Any, max_depth: int) -> list[Mapping[str, Any]]:
    """The report and its mapping-valued causes, outermost first (iterative: JSON depth
    can exceed the recursion limit)."""
    chain: list[Mapping[str, Any]] = []
    node = report
    while isinstance(node, Mapping) and len(chain) <= max(0, max_depth):
        chain.append(node)
        node = node.get("cause")
    return chain


def classify(
    report: Any,
    rules: Mapping[str, Rule] | None = None,
    *,
    max_depth: int = 8,
    by_cause: bool = True,
) -> Classification:
    """Classify an error report (and up to ``max_depth`` nested causes). Never raises.

    ``rules`` are operator overrides layered over ``DEFAULT_RULES``. With ``by_cause``, a
    level whose own code is unknown (or a wrapper) takes the verdict of the nearest cause
    whose code is known; without it, every level stands on its own code as in the seed.
    """
    table = _table(rules)
    if table is None:
        return _unknown()
    return _classify(report, table, max_depth=max_depth, by_cause=by_cause)


def _table(rules: Mapping[str, Rule] | None) -> Mapping[str, Rule] | None:
    """The rules over the defaults; None when `rules` is not a mapping of them."""
    try:
        return {**DEFAULT_RULES, **rules} if rules else DEFAULT_RULES
    except Exception:  # noqa: BLE001 - classify() never raises
        return None


def _classify(report: Any, table: Mapping[str, Rule], *, max_depth: int,
              by_cause: bool) -> Classification:
    try:
        chain = _chain(report, max_depth)
        if not chain:
            return _unknown()
        codes = [error_code(level) for level in chain]
        own = [lookup(code, table) if code else None for code in codes]
        decisive = [
            rule is not None and not _is_wrapper(code)
            for code, rule in zip(codes, own, strict=True)
        ]
        result: Classification | None = None
        nearest: int | None = None  # index of the nearest decisive level below this one
        for i in range(len(chain) - 1, -1, -1):
            code, rule = codes[i], own[i]
            if decisive[i] or (rule is not None and (not by_cause or nearest is None)):
                result = _verdict(rule, code=code, reports=[chain[i]], cause=result,
                                  classified_by="code")
            elif by_cause and nearest is not None:
                result = _verdict(own[nearest], code=code or UNKNOWN_CODE,
                                  reports=[chain[i], chain[nearest]], cause=result,
                                  classified_by="cause")
            else:
                result = _unknown(code=code, cause=result)
            if decisive[i]:
                nearest = i
        return result
    except Exception:  # noqa: BLE001 - defensive: a classification must always come back
        return _unknown()


def classify_many(
    reports: Iterable[Any],
    rules: Mapping[str, Rule] | None = None,
    *,
    max_depth: int = 8,
    by_cause: bool = True,
) -> list[Classification]:
    """``classify()`` of each report, in order, each distinct input classified once.

    A batch repeats a handful of kinds of error, and a Classification is immutable, so
    reports that read the same (``classification_key``) share one. The operators' rules
    are merged over the defaults once for the whole batch."""
    table = _table(rules)
    if table is None:
        return [_unknown() for _ in reports]
    verdicts: dict[Hashable, Classification] = {}
    results = []
    for report in reports:
        key = classification_key(report, max_depth=max_depth)
        verdict = verdicts.get(key) if key is not None else None
        if verdict is None:
            verdict = _classify(report, table, max_depth=max_depth, by_cause=by_cause)
            if key is not None:
                verdicts[key] = verdict
        results.append(verdict)
    return results


def classification_key(report: Any, *, max_depth: int = 8) -> Hashable | None:
    """Everything ``classify()`` reads of a report, as a key: per level of the cause chain
    (as ``_chain`` walks it) the code, name, status and errno with their types (1 and
    True, "503" and 503 are read differently), and whether the message is Node's "fetch
    failed" (the one message that can decide). The stack trace, ids and the rest of the
    message are not read. None when a value cannot be a key (a list, say): classified
    alone."""
    try:
        key: list[Any] = []  # nine items a level
        for level in _chain(report, max_depth):
            code, name = level.get("code"), level.get("name")
            status, err = level.get("status"), level.get("errno")
            key += (type(code), code, type(name), name, type(status), status, type(err), err,
                    level.get("message") == "fetch failed")
        frozen = tuple(key)
        hash(frozen)  # raises for a list or a dict among the values
        return frozen or None
    except Exception:  # noqa: BLE001 - unhashable or odd values: classify() copes with them
        return None


def with_severity(classification: Classification, severity: Severity | str) -> Classification:
    """The classification with the reporter's own severity (a Sentry message's level), up
    or down; the category, retryable and recoverable stay the classification's."""
    if Severity(severity) == classification.severity:
        return classification
    return replace(classification, severity=Severity(severity))


def with_severity_floor(classification: Classification, floor: Severity | str) -> Classification:
    """The classification with its severity raised to at least `floor`, never lowered.

    A reporter's own level (a Sentry event's "fatal") says how bad it is even when the
    code is unknown. Only the severity moves: retryable and recoverable stay the
    category's, as in the seed; a CRITICAL severity makes the decision IMMEDIATE_ALERT.
    """
    severity = max_severity(classification.severity, floor)
    if severity == classification.severity:
        return classification
    return replace(classification, severity=severity)
