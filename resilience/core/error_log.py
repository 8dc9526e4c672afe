"""The seed's ErrorLogger output, formatted (pure: standard library only).

The seed's `logError` stores the entry, then `logToConsole` prints
`[<ISO timestamp>] <CATEGORY>:<CODE> - <message>` (+ ` (Campaign: <id>)`) at the level the
severity names, with the stack trace for CRITICAL, and `logToFile` keeps CRITICAL entries
in a file. Faultline stores the entry on ingest; the digest, once it has committed a batch,
logs each entry with these functions (services/digest.py), so the request path pays
nothing and an entry is logged once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

LOGGER_NAME = "faultline.errors"
# The seed calls console[severity.toLowerCase()]; these are Python's nearest levels.
LEVELS = {
    "LOW": logging.INFO,
    "MEDIUM": logging.WARNING,
    "HIGH": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
CRITICAL = "CRITICAL"
# Reports may carry 32 KiB messages and 256 KiB traces; a log line should not. The entry
# (its id is in every file line) keeps the full text.
MESSAGE_MAX_CHARS = 1_000
STACK_TRACE_MAX_CHARS = 16_000
UNKNOWN_CODE = "UNKNOWN_ERROR"  # the seed's extractErrorCode with nothing to go on
UNKNOWN_MESSAGE = "Unknown error"  # the seed's classifyError without a message


@dataclass(frozen=True)
class LoggedError:
    """What the log needs of one stored entry."""

    id: int
    event_id: str
    service_id: int
    timestamp: datetime  # when it happened, as the reporter says
    severity: str
    category: str
    code: str
    message: str
    operation: str = ""
    campaign_id: str = ""
    stack_trace: str = ""


def level_of(severity: str) -> int:
    return LEVELS.get(severity, logging.ERROR)


def iso_timestamp(moment: datetime) -> str:
    """As JavaScript's toISOString(): UTC, milliseconds, `Z`."""
    if (moment.tzinfo is UTC or moment.tzinfo is None) and moment.year >= 1000:
        # What the database hands back (UTC): isoformat is the same text at a fifth of
        # strftime's cost. Years before 1000 keep strftime's unpadded year.
        return moment.isoformat(timespec="milliseconds")[:23] + "Z"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    # Reporters write this text: a newline in it must not forge a second log line.
    return text.replace("\r", "\\r").replace("\n", "\\n")


def console_line(error: LoggedError) -> str:
    """The seed's logToConsole line."""
    return line_of(error.timestamp, error.category, error.code, error.message,
                   error.campaign_id)


def line_of(timestamp: datetime, category: str, code: str, message: str,
            campaign_id: str) -> str:
    """console_line from the values themselves (the digest logs a batch without building a
    LoggedError per entry)."""
    message = clip(_one_line(message or UNKNOWN_MESSAGE), MESSAGE_MAX_CHARS)
    line = (
        f"[{iso_timestamp(timestamp)}] {_one_line(category)}:"
        f"{_one_line(code or UNKNOWN_CODE)} - {message}"
    )
    if campaign_id:
        line += f" (Campaign: {_one_line(campaign_id)})"
    return line


def console_text(error: LoggedError) -> str:
    """The line, and for CRITICAL the stack trace under it (the seed's console.error)."""
    return text_of(error.timestamp, error.severity, error.category, error.code, error.message,
                   error.campaign_id, error.stack_trace)


def text_of(timestamp: datetime, severity: str, category: str, code: str, message: str,
            campaign_id: str, stack_trace: str) -> str:
    """console_text from the values themselves."""
    line = line_of(timestamp, category, code, message, campaign_id)
    if severity == CRITICAL and stack_trace:
        return f"{line}\n{clip(stack_trace, STACK_TRACE_MAX_CHARS)}"
    return line


def file_line(error: LoggedError) -> str:
    """One JSON line for the critical file (logToFile), newline included."""
    record = {
        "timestamp": iso_timestamp(error.timestamp),
        "entry_id": error.id,
        "event_id": error.event_id,
        "service_id": error.service_id,
        "severity": error.severity,
        "category": error.category,
        "code": error.code or UNKNOWN_CODE,
        "message": clip(error.message or UNKNOWN_MESSAGE, MESSAGE_MAX_CHARS),
        "operation": error.operation,
        "campaign_id": error.campaign_id,
        "stack_trace": clip(error.stack_trace, STACK_TRACE_MAX_CHARS),
        "line": console_line(error),
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def critical_lines(errors: Iterable[LoggedError]) -> str:
    """The critical file's lines for these errors ("" when none is CRITICAL)."""
    return "".join(file_line(e) for e in errors if e.severity == CRITICAL)
