"""Time ranges as the seed's ErrorMetricsCollector.parseTimeRange reads them.

A range is a whole number followed by m, h or d ("15m", "6h", "30d"), any number.
Standard library only; `resilience.groups.selectors` supplies the longest span allowed.

PRESETS is the one list of ranges offered as choices (the dashboard's selector, the
admin's "time range" list filters); any other well-formed range is accepted too.

Departure (docs/seed-conformance.md): the seed reads anything it does not understand as
one hour; `parse` refuses it instead (the API answers 400 naming the parameter), and
`parse_lenient` is the seed's reading, used when METRICS_REFUSE_BAD_RANGE is off.
"""

import re
from datetime import timedelta

DEFAULT = "1h"  # the seed's collectErrorMetrics(timeRange = '1h')
PRESETS: tuple[str, ...] = ("15m", "1h", "6h", "24h", "7d", "30d")

_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_NAMES = {"m": "minute", "h": "hour", "d": "day"}
# At most nine digits: 999,999,999 days is the largest timedelta.
_FORM = re.compile(r"([1-9][0-9]{0,8})([mhd])")
_PARSE_INT = re.compile(r"[ \t\n\r\f\v]*\+?([0-9]+)")  # parseInt's digits, sign aside


class BadRange(ValueError):
    pass


def _read(value: object) -> timedelta | None:
    match = _FORM.fullmatch(value) if isinstance(value, str) else None
    return int(match[1]) * _UNITS[match[2]] if match else None


def describe(span: timedelta) -> str:
    """The shortest range naming `span` ("30d", "6h", "90m")."""
    for unit in ("d", "h", "m"):
        if span % _UNITS[unit] == timedelta(0):
            return f"{span // _UNITS[unit]}{unit}"
    return f"{span.total_seconds() / 60:g}m"


def parse(value: object, *, max_span: timedelta) -> timedelta:
    """The span of `value`; BadRange (saying what is accepted) for anything else."""
    span = _read(value)
    if span is None:
        raise BadRange(
            f"{value!r} is not a time range: use a whole number followed by m, h or d "
            f"(minutes, hours, days), such as {', '.join(PRESETS)}"
        )
    if span > max_span:
        raise BadRange(
            f"{value!r} is longer than the longest range, {describe(max_span)}"
        )
    return span


def parse_lenient(value: object, *, max_span: timedelta) -> timedelta:
    """The seed's reading: the last character is the unit, the number is what JavaScript's
    parseInt reads before it ("1.5h" is 1 hour), and an unknown unit is one hour.

    Where the seed would get a zero, negative or NaN window ("0h", "-1h", "xh") this is
    one hour too, and longer than `max_span` is `max_span` (older rollups are deleted).
    """
    text = value if isinstance(value, str) else ""
    unit = _UNITS.get(text[-1:])
    match = _PARSE_INT.match(text[:-1])
    digits = match[1].lstrip("0") if match else ""
    if unit is None or not digits:
        return _UNITS["h"]
    # Twelve digits of minutes already exceed any max_span; int() of more could be slow.
    if len(digits) > 12 or int(digits) > max_span // unit:
        return max_span
    return int(digits) * unit


def label(value: str) -> str:
    """ "Last hour", "Last 15 minutes" for a well-formed range."""
    number, unit = int(value[:-1]), _NAMES[value[-1]]
    return f"Last {unit}" if number == 1 else f"Last {number} {unit}s"
