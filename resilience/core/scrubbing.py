"""Server-side data scrubbing before storage, as Sentry does it by default (pure).

Follows https://docs.sentry.io/security-legal-pii/scrubbing/server-side-scrubbing/:
in structured data (context, extra, tags: request headers, cookies, form data, query
strings, frame variables) the value of any key that contains a sensitive name is replaced
with "[Filtered]" (case-insensitive, `-` read as `_`, so `X-Api-Key` is `x_api_key`). In
every string, free text included, what looks like a payment card number (13 to 19 digits
with a card scheme's prefix and length, Luhn-valid) or an IBAN (a known country's length,
mod-97 valid) is replaced, and so is the value of a `key=value` pair whose key is
sensitive (`?token=…`, `password=…` in a form body or a log line).

A service may add sensitive names, and name safe fields: keys whose whole value is kept
as sent (they win over every rule). Everything is linear in the size of the input: no
pattern can backtrack across a long string.
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

FILTERED = "[Filtered]"

# Matched as substrings of normalised keys. Sentry's server-side defaults (the docs above,
# past and present), then the web frameworks' session, CSRF and cookie names from
# sentry_sdk's own denylist (sentry_sdk/scrubber.py): an SDK that does not scrub them, or
# one told not to, still does not get them stored.
DEFAULT_SENSITIVE_FIELDS = (
    "password", "secret", "passwd", "api_key", "apikey", "access_token", "auth",
    "credentials", "mysql_pwd", "privatekey", "private_key", "token", "bearer",
    "stripetoken", "card[number]",
    "session", "csrf", "xsrf", "cookie", "x_forwarded_for", "x_real_ip", "connect.sid",
    "phpsessid",
)
MAX_FIELD_NAMES = 200
MAX_FIELD_NAME_LENGTH = 200

# A card number as people write it: 13 to 19 digits in one run, in groups of four, or
# 4-6-5 / 4-6-4 (American Express, Diners), with one kind of separator (space or dash).
# The scheme check and Luhn decide; a run glued to letters, dots or more digits is not a
# card. A last short group may be something else (a CVV, "12/26"): see _card_or_keep.
# Written to start with its first digit (the check on what comes before it follows that
# digit), so the regular expression engine skips to the digits of a text instead of trying
# every position: three times faster on a stack trace, the same matches.
_CARD = re.compile(
    r"\d(?<![\w.]\d)(?:\d{12,18}"
    r"|\d{3}(?P<s>[ -])\d{4}(?P=s)\d{4}(?P=s)\d{1,4}(?P<tail>(?P=s)\d{1,3})?"
    r"|\d{3}(?P<t>[ -])\d{6}(?P=t)\d{4,5})(?![\w.])"
)
# Schemes by prefix range and lengths (ISO/IEC 7812 issuer ranges as the schemes publish
# them). A millisecond timestamp (1…) or a 16-digit order id starting with 1 or 9 is none.
_CARD_SCHEMES = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)), ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)), ("37", "37", (15,)),  # American Express
    ("6011", "6011", (16, 17, 18, 19)), ("644", "649", (16, 17, 18, 19)),  # Discover
    ("65", "65", (16, 17, 18, 19)),
    ("3528", "3589", (16, 17, 18, 19)),  # JCB
    ("300", "305", (14, 15, 16, 17, 18, 19)), ("36", "36", (14, 15, 16, 17, 18, 19)),  # Diners
    ("38", "39", (16, 17, 18, 19)),
    ("62", "62", (16, 17, 18, 19)),  # UnionPay
)
# An IBAN: country code, check digits, then the account, compact or in groups of four.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
# Its check digits after the country code: where an IBAN can start, two characters before
# (found by their first digit, so the engine skips to the digits of a text).
_IBAN_DIGITS = re.compile(r"\d\d(?<=[A-Za-z]{2}\d\d)")
# Lengths from the SWIFT IBAN registry.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
# `key=value` in a query string, form body, cookie header or log line; the key is one run
# of name characters. The rule as a pattern: Scrubber._pairs_replaced finds its matches
# from each "=" instead of scanning for them.
_PAIR = re.compile(r"(?<![\w.\[\]-])([\w.\[\]-]+)=([^&;\s,'\"]*)")
# Where a pair can be: an "=" right after a name character (found by its literal "=", so
# the engine skips to each one), and the run of name characters before it (read on the
# reversed text).
_PAIR_EQUALS = re.compile(r"=(?<=[\w.\[\]-]=)")
_KEY_RUN = re.compile(r"[\w.\[\]-]+")
_PAIR_VALUE = re.compile(r"[^&;\s,'\"]*")  # _PAIR's value
_KEY_WINDOW = 64
# A structured value that is a credential on its own (an Authorization header copied
# under another name): an auth scheme and a long token.
_AUTH_VALUE = re.compile(r"(?i)^\s*(?:bearer|basic|digest|token)\s+\S{8,}")
_SHORTEST_MATCH = 13  # a shorter string holds no card, IBAN or auth value
_TWO_DIGITS = re.compile(r"\d\d")
# ASCII text's shape for the card and IBAN checks, one byte a character: "0" a digit, "a"
# a letter, " " a space or dash, "." anything else. Made in C (encode, translate) and
# searched for substrings, it tells where the patterns can match without running them:
# each pattern scans a text character by character in Python's engine, ten times slower.
_SHAPE = bytes(
    ord("0") if chr(byte).isdigit() else ord("a") if chr(byte).isalpha()
    else ord(" ") if chr(byte) in " -" else ord(".")
    for byte in range(128)
) + b"." * 128
# Every card match begins with four digits and goes on with a separator and four more
# digits (groups of four, 4-6-5, 4-6-4) or with nine more digits.
_CARD_SHAPES = (b"0000 0000", b"0" * 13)
# Every IBAN match begins with two letters and the two check digits.
_IBAN_SHAPE = b"aa00"


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """`digits` (no separators) is a card scheme's prefix and length and passes Luhn."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    for low, high, lengths in _CARD_SCHEMES:
        if len(digits) in lengths and int(low) <= int(digits[: len(low)]) <= int(high):
            return luhn_valid(digits)
    return False


def is_iban(text: str) -> bool:
    """`text` (no spaces, any case) is an IBAN: its country's length and mod-97 check."""
    iban = text.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def _card_or_keep(match: re.Match) -> str:
    text = match.group()
    if is_card_number(_digits(text)):
        return FILTERED
    if match.group("tail"):  # "4111 1111 1111 1111 123": the card, then its CVV
        head = text[: match.start("tail") - match.start()]
        if is_card_number(_digits(head)):
            return FILTERED + match.group("tail")
    return text


def _iban_or_keep(match: re.Match) -> str:
    """The match may run on into the next group of characters ("… 3000 OK"): only as
    many as the country's IBAN has are taken, if they end at a space."""
    text = match.group()
    length = IBAN_LENGTHS.get(text[:2].upper())
    if length is None:
        return text
    taken = 0
    for end, char in enumerate(text):
        taken += char != " "
        if taken == length:
            rest = text[end + 1 :]
            if (rest and rest[0] != " ") or not is_iban(text[: end + 1].replace(" ", "")):
                return text
            return FILTERED + rest
    return text


def _shape(text: str) -> bytes | None:
    """The text's shape (see _SHAPE), or None when it is not ASCII: `\\d` and `\\w` also
    read other scripts' digits and letters, so such text is left to the patterns."""
    return text.encode("ascii").translate(_SHAPE) if text.isascii() else None


def _may_hold_card(shape: bytes) -> bool:
    return _CARD_SHAPES[0] in shape or _CARD_SHAPES[1] in shape


def _iban_starts(shape: bytes) -> Iterator[int]:
    """Where `_IBAN_DIGITS` finds check digits after a country code in the text of this
    shape (two such places never overlap), as the IBAN's start."""
    at = shape.find(_IBAN_SHAPE)
    while at >= 0:
        yield at
        at = shape.find(_IBAN_SHAPE, at + 4)


def _digits_starts(text: str) -> Iterator[int]:
    for digits in _IBAN_DIGITS.finditer(text):
        yield digits.start() - 2


def _ibans_replaced(text: str, starts: Iterable[int] | None = None) -> str:
    """`_IBAN.sub(_iban_or_keep, text)`, trying the pattern only where check digits follow
    a country code (`starts`, else found in `text`): every match starts there, and one
    tried further left would have been found by the scan first, so the matches are the
    same."""
    pieces: list[str] = []
    done = 0
    for start in _digits_starts(text) if starts is None else starts:
        if start < done:
            continue
        match = _IBAN.match(text, start)
        if match is not None:
            pieces += (text[done:start], _iban_or_keep(match))
            done = match.end()
    return "".join((*pieces, text[done:])) if pieces else text


def field_names(text: str) -> tuple[str, ...]:
    """An operator's list (one name a line, or separated by commas) as normalised names."""
    names: dict[str, None] = {}
    for part in re.split(r"[\n,]", text or ""):
        name = normalise_key(part.strip())
        if name:
            names[name] = None
    return tuple(names)


def normalise_key(key: str) -> str:
    return key.lower().replace("-", "_")


_PLAIN, _SENSITIVE, _SAFE = 0, 1, 2
_MAX_VERDICTS = 10_000  # keys remembered per Scrubber; past it, forgotten and relearnt
# Values that every scrubber keeps as they are: no "=" (a pair's key is the one thing a
# service's own names decide), no card number, IBAN or credential. Events repeat them
# (module and file names, source lines), so they are remembered across reports, up to a
# count (then forgotten and relearnt); nothing remembered is anything scrubbing removes.
_KEPT_TEXT: set[str] = set()
_KEPT_TEXT_COUNT = 20_000
_KEPT_TEXT_LENGTH = 300
# Lines of long free text (a stack trace's file and source lines, which reports repeat)
# that every scrubber keeps as they are, each with the names of its pairs that have a
# value: a line met again is kept without a scan by a scrubber to which none of those
# names is sensitive. Bounded as _KEPT_TEXT is.
_KEPT_LINES: dict[str, tuple[str, ...]] = {}
_LINES_FROM = 200  # free text at least this long, with line breaks, is scrubbed by line


class Scrubber:
    """The rules one service's reports are scrubbed with. Build one per settings change
    (the patterns are compiled here) and use it for any number of reports: what it
    decided about a key is remembered, since the same keys come in every report."""

    def __init__(self, *, enabled: bool = True, sensitive_fields: Iterable[str] = (),
                 safe_fields: Iterable[str] = ()) -> None:
        self.enabled = enabled
        self.safe_fields = frozenset(normalise_key(name) for name in safe_fields)
        names = dict.fromkeys(DEFAULT_SENSITIVE_FIELDS)
        names.update(dict.fromkeys(normalise_key(name) for name in sensitive_fields if name))
        self.sensitive_fields = tuple(names)
        self._sensitive = re.compile("|".join(re.escape(name) for name in names))
        self._verdicts: dict[str, int] = {}

    def _verdict(self, key: str) -> int:
        verdict = self._verdicts.get(key)
        if verdict is None:
            name = normalise_key(key)
            if name in self.safe_fields:
                verdict = _SAFE
            else:
                verdict = _SENSITIVE if self._sensitive.search(name) else _PLAIN
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    def is_sensitive(self, key: str) -> bool:
        return self._verdict(key) == _SENSITIVE

    def is_safe(self, key: str) -> bool:
        return self._verdict(key) == _SAFE

    def text(self, text: str) -> str:
        """Free text: card numbers, IBANs and sensitive `key=value` pairs replaced."""
        if not self.enabled:
            return text
        return self._text(text)

    def _text(self, text: str) -> str:
        if len(text) >= _LINES_FROM and "\n" in text:
            return self._lines(text)
        return self._line(text)

    def _lines(self, text: str) -> str:
        """Long text line by line. No rule matches across a line break (names, values, a
        card's groups and IBANs hold none, and a break before or after one reads as the
        text's start or end does), so each line comes out as it would within the whole
        text; a line kept before is not scanned again (_KEPT_LINES)."""
        lines = text.split("\n")
        changed = False
        for index, line in enumerate(lines):
            names = _KEPT_LINES.get(line)
            if names is not None and not (names and self._any_sensitive(names)):
                continue
            seen: list[str] = []
            clean = self._line(line, seen)
            if clean != line:
                lines[index] = clean
                changed = True
            elif len(line) <= _KEPT_TEXT_LENGTH:
                if len(_KEPT_LINES) >= _KEPT_TEXT_COUNT:
                    _KEPT_LINES.clear()
                _KEPT_LINES[line] = tuple(seen)
        return "\n".join(lines) if changed else text

    def _any_sensitive(self, names: Iterable[str]) -> bool:
        return any(self._verdict(name) == _SENSITIVE for name in names)

    def _line(self, text: str, names: list[str] | None = None) -> str:
        """Free text: pairs, then card numbers and IBANs. `names` collects the names of
        the pairs that have a value."""
        if "=" in text:
            text = self._pairs_replaced(text, names)
        # A card number and an IBAN both hold two digits in a row: text without them (most
        # names, paths and source lines) is passed over without either pattern.
        if len(text) >= _SHORTEST_MATCH and _TWO_DIGITS.search(text):
            shape = _shape(text)
            if shape is not None and not _may_hold_card(shape):
                # No card: the text is as it was, and its shape says where IBANs can be.
                return _ibans_replaced(text, _iban_starts(shape))
            text = _CARD.sub(_card_or_keep, text)
            text = _ibans_replaced(text)
        return text

    def _pairs_replaced(self, text: str, names: list[str] | None = None) -> str:
        """`_PAIR.sub` with each sensitive key's value (when there is one) replaced, trying
        the pattern only at the start of the name before each "=" that has one. Every
        match starts there (its key is the whole run of name characters before its "="),
        and an "=" inside the value of the match before it is passed over, as the scan
        does: the matches are the same."""
        pieces: list[str] = []
        done = 0  # where the last match ended
        copied = 0  # how much of the text is in `pieces`
        reversed_text = ""
        for equals in _PAIR_EQUALS.finditer(text):
            at = equals.start()
            if at < done:
                continue
            # The name is read back from its "=" on the reversed text: the few characters
            # before it first, the whole text (once) only for a name longer than that.
            length = _KEY_RUN.match(text[at - 1 : at - _KEY_WINDOW - 1 if at > _KEY_WINDOW
                                         else None : -1]).end()
            if length == _KEY_WINDOW:
                if not reversed_text:
                    reversed_text = text[::-1]
                from_end = len(text) - at
                length = _KEY_RUN.match(reversed_text, from_end).end() - from_end
            # What _PAIR matches from the name's start: the name (the whole run, so nothing
            # that could lengthen it comes before), the "=", and the value after it.
            done = _PAIR_VALUE.match(text, at + 1).end()
            if done > at + 1:
                key = text[at - length : at]
                if names is not None:
                    names.append(key)
                verdict = self._verdicts.get(key)
                if verdict == _SENSITIVE or (verdict is None and self.is_sensitive(key)):
                    pieces += (text[copied : at - length], f"{key}={FILTERED}")
                    copied = done
        return "".join((*pieces, text[copied:])) if pieces else text

    def data(self, value: Any) -> Any:
        """Structured data (JSON values): a copy with sensitive keys' values filtered and
        every string scrubbed as text. Lists of [key, value] pairs (Sentry's form for
        headers and query strings) are read as keys and values."""
        if not self.enabled:
            return value
        return self._value(value, {})

    # The walk below is the hot path of a Sentry event (hundreds of keys and strings, with
    # its frames): exact types are dispatched first, and `seen` remembers what each string
    # became within one report, since an event repeats its module names, file names and
    # source lines (a frame appears both for grouping and with its context).

    def _value(self, value: Any, seen: dict[str, str]) -> Any:
        kind = type(value)
        if kind is str:
            return self._string(value, seen)
        if kind is dict:
            return self._object(value, seen)
        if kind is list:
            return self._array(value, seen)
        if kind is int:
            return FILTERED if value > 10**12 and is_card_number(str(value)) else value
        if value is None or kind is bool or kind is float:
            return value
        # Subclasses (an OrderedDict, an IntEnum in a guard's context): the same rules.
        if isinstance(value, str):
            return self._string(value, None)
        if isinstance(value, dict):
            return self._object(value, seen)
        if isinstance(value, list):
            return self._array(value, seen)
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**12:
            return FILTERED if is_card_number(str(value)) else value
        return value

    def _string(self, value: str, seen: dict[str, str] | None) -> str:
        if len(value) < _SHORTEST_MATCH and "=" not in value:
            return value  # most values: too short for any rule
        if seen is None:
            return self._long_string(value)
        clean = seen.get(value)
        if clean is None:
            clean = seen[value] = self._long_string(value)
        return clean

    def _long_string(self, value: str) -> str:
        if value in _KEPT_TEXT:
            return value
        clean = FILTERED if _AUTH_VALUE.match(value) else self._text(value)
        if (type(value) is str and "=" not in value and len(value) <= _KEPT_TEXT_LENGTH
                and clean == value):
            if len(_KEPT_TEXT) >= _KEPT_TEXT_COUNT:
                _KEPT_TEXT.clear()
            _KEPT_TEXT.add(value)
        return clean

    # _object and _array take strings, objects and lists of the exact types in place
    # (_string's and _value's work, without a call per value); the rest goes to _value.

    def _object(self, value: dict, seen: dict[str, str]) -> dict:
        verdicts = self._verdicts
        out = {}
        for key, item in value.items():
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = self._verdict(key) if isinstance(key, str) else _PLAIN
            if verdict:
                if verdict == _SAFE:
                    out[key] = item
                    continue
                if item is not None and item != "":  # sensitive
                    out[key] = FILTERED
                    continue
            kind = type(item)
            if kind is str:
                if len(item) < _SHORTEST_MATCH and "=" not in item:
                    out[key] = item
                else:
                    clean = seen.get(item)
                    if clean is None:
                        clean = seen[item] = self._long_string(item)
                    out[key] = clean
            elif kind is dict:
                out[key] = self._object(item, seen)
            elif kind is list:
                out[key] = self._array(item, seen)
            else:
                out[key] = self._value(item, seen)
        return out

    def _array(self, value: list, seen: dict[str, str]) -> list:
        out = []
        for item in value:
            kind = type(item)
            if kind is str:
                if len(item) < _SHORTEST_MATCH and "=" not in item:
                    out.append(item)
                else:
                    clean = seen.get(item)
                    if clean is None:
                        clean = seen[item] = self._long_string(item)
                    out.append(clean)
            elif kind is dict:
                out.append(self._object(item, seen))
            elif isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
                out.append([item[0], self._under(item[0], item[1], seen)])
            else:
                out.append(self._value(item, seen))
        return out

    def _under(self, key: str, value: Any, seen: dict[str, str]) -> Any:
        verdict = self._verdict(key)
        if verdict == _SAFE:
            return value
        if verdict == _SENSITIVE and value is not None and value != "":
            return FILTERED
        return self._value(value, seen)

    def report(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """A report as it is stored: its free text and structured fields scrubbed, its
        own cause chain too. Ids, codes, names, fingerprints and `payload` are kept: the
        service matches, groups and replays on them (a replayed payload must be the one
        that failed)."""
        clean = dict(report)
        if not self.enabled:
            return clean
        return self._report(clean, {})

    def _report(self, clean: dict[str, Any], seen: dict[str, str]) -> dict[str, Any]:
        for field in _TEXT_FIELDS:
            if isinstance(clean.get(field), str):
                clean[field] = self._text(clean[field])
        for field in _DATA_FIELDS:
            if clean.get(field) is not None:
                clean[field] = self._value(clean[field], seen)
        cause = clean.get("cause")
        if isinstance(cause, Mapping):
            clean["cause"] = self._report(dict(cause), seen)
        return clean


# The report's fields that hold what a program or its user said (see report_schema);
# `extra` is what the Sentry endpoints add beside them.
_TEXT_FIELDS = ("message", "stack_trace")
_DATA_FIELDS = ("context", "tags", "extra")

DEFAULT_SCRUBBER = Scrubber()
