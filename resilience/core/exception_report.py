"""A raised Python exception as an error report (pure: no Django).

The in-process guard reports through the same ingest path as the HTTP API, so an
exception is turned into the same report shape: type, code, errno, status, message,
stack trace and the cause chain (``raise … from …`` or the implicit context).
"""

import errno as _errno
import traceback
from typing import Any

MAX_CAUSES = 7  # report_schema accepts causes up to 8 deep
# Causes this deep or deeper keep no stack trace: the top frames say where, and a
# chain of full traces would make one report megabytes long.
TRACED_CAUSES = 2
_MAX_MESSAGE = 32_768
_MAX_TRACE = 262_144


def exception_name(exc: BaseException) -> str:
    """`module.QualName` for library exceptions, the bare name for builtins."""
    return exception_name_of(type(exc))


def exception_name_of(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _code_of(exc: BaseException) -> str | None:
    # psycopg2 carries the SQLSTATE in pgcode; many libraries use `code`.
    for attr in ("code", "pgcode"):
        value = getattr(exc, attr, None)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)[:200]
    return None


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) and 100 <= value <= 599 else None


def exception_codes(exc: BaseException) -> set[str]:
    """Every code the exception answers to: its `code`, errno name and status, and the
    names of its type and base types (ConnectionRefusedError is also a ConnectionError)."""
    codes = {name for cls in type(exc).__mro__
             for name in (cls.__qualname__, exception_name_of(cls))}
    code = _code_of(exc)
    if code:
        codes.add(code)
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and not isinstance(errno, bool):
        codes.add(_errno.errorcode.get(abs(errno), str(errno)))
    status = _status_of(exc)
    if status:
        codes.add(str(status))
    return codes


def _one(exc: BaseException) -> dict[str, Any]:
    report: dict[str, Any] = {"name": exception_name(exc)[:200], "message": str(exc)[:_MAX_MESSAGE]}
    code = _code_of(exc)
    if code:
        report["code"] = code
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and not isinstance(errno, bool):
        report["errno"] = errno
    status = _status_of(exc)
    if status:
        report["status"] = status
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    report["stack_trace"] = trace[-_MAX_TRACE:]
    return report


def report_from_exception(exc: BaseException) -> dict[str, Any]:
    """The exception and its causes as a nested report (causes at most MAX_CAUSES deep)."""
    top = _one(exc)
    current, node, seen = exc, top, {id(exc)}
    for depth in range(1, MAX_CAUSES + 1):
        cause = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        child = _one(cause)
        if depth > TRACED_CAUSES:
            del child["stack_trace"]
        node["cause"] = child
        current, node = cause, child
    return top
