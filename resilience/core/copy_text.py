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


_JSON_TEXT = _json_text()


def json_value(value: Any) -> str:
    """A JSON column; Python None is SQL NULL (as Django stores it), not JSON null."""
    return NULL if value is None else escape(_JSON_TEXT(value))


def copy_line(values: Sequence[Any], encoders: Sequence[Encoder]) -> str:
    return "\t".join([encode(value) for encode, value in zip(encoders, values, strict=True)])


def copy_text(lines: Iterable[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()
