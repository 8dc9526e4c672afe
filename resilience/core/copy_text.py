"""Rows as PostgreSQL COPY text format (pure, standard library only).

One line per row, columns separated by tabs, `\\N` for NULL; a backslash, tab, newline or
carriage return inside a value is escaped. See
https://www.postgresql.org/docs/current/sql-copy.html ("Text Format").
"""

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

import orjson

NULL = "\\N"

Encoder = Callable[[Any], str]


def escape(text: str) -> str:
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    return text


def text_value(value: Any) -> str:
    return NULL if value is None else escape(str(value))


def int_value(value: Any) -> str:
    return NULL if value is None else str(int(value))


def bool_value(value: Any) -> str:
    if value is None:
        return NULL
    return "t" if value else "f"


def datetime_value(value: datetime | None) -> str:
    # Aware datetimes only: isoformat carries the offset, which timestamptz reads.
    return NULL if value is None else value.isoformat()


def _json_text() -> Encoder:
    """`json.dumps(value, ensure_ascii=False)`, with C's encoder made once rather than per
    call (half of a small value's cost), as `JSONEncoder.iterencode` makes it. It does not
    look for cycles: values come parsed from JSON, or checked by safe_json, whose depth
    limit refuses a cycle first."""
    python = json.JSONEncoder(ensure_ascii=False, check_circular=False)
    if c_make_encoder is None:
        return python.encode
    encode = c_make_encoder(None, python.default, encode_basestring, None,
                            python.key_separator, python.item_separator, False, False, True)
    return lambda value: "".join(encode(value, 0))


_PYTHON_JSON_TEXT = _json_text()
# Subclasses, datetimes and dataclasses go to the standard library's encoder as before (it
# refuses the last two), not orjson's own reading of them.
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


def _json_text_of(value: Any) -> str:
    """The value's JSON text, from orjson (a ~10 KB event's columns in an eighth of the
    time), else from the standard library's encoder: orjson refuses integers past 64 bits,
    keys that are not text, lone surrogates (which the COPY then refuses, as before) and
    other types. Both write the same JSON but for spacing and how a float is spelled
    (`1e16`, `1e+16`), which jsonb, the only reader of this text, reads alike. orjson writes
    NaN and the infinities as null where the standard library writes NaN, which jsonb
    refuses; none reaches a column: every value is parsed by safe_json or checked by
    safe_json.check, built by ingest from those, or made of text and booleans (the
    classification)."""
    try:
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _PYTHON_JSON_TEXT(value)


def json_value(value: Any) -> str:
    """A JSON column; Python None is SQL NULL (as Django stores it), not JSON null."""
    return NULL if value is None else escape(_json_text_of(value))


def copy_line(values: Sequence[Any], encoders: Sequence[Encoder]) -> str:
    return "\t".join([encode(value) for encode, value in zip(encoders, values, strict=True)])


def copy_text(lines: Iterable[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()
