"""Reading a JSON request body within a size limit, with errors that say what is wrong."""

import json

from rest_framework.exceptions import ParseError, UnsupportedMediaType

from resilience.api.errors import PayloadTooLarge
from resilience.sentry.decoding import (
    BadBody,
    BodyTooLarge,
    UnsupportedEncoding,
    decode_body,
    request_chunks,
)


def _decompressed(django_request, encoding: str, limit: int) -> bytes:
    """A compressed body (Content-Encoding: gzip, deflate, br, zstd), `limit` both ways."""
    try:
        return decode_body(request_chunks(django_request, limit=limit), encoding,
                           max_decompressed=limit)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(f"Request body is too large: {exc}.") from None
    except UnsupportedEncoding as exc:
        raise UnsupportedMediaType(encoding, detail=str(exc)) from None
    except BadBody as exc:
        raise ParseError(f"Request body cannot be decompressed: {exc}.") from None


def read_json_body(request, *, limit: int):
    """Parse the body as JSON, refusing more than `limit` bytes before reading them."""
    django_request = request._request
    content_type = django_request.content_type or "application/json"
    if content_type != "application/json":
        raise UnsupportedMediaType(content_type, detail="Send the report as application/json.")
    encoding = django_request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    declared = django_request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.")
    if encoding not in ("", "identity"):
        raw = _decompressed(django_request, encoding, limit)
    else:
        raw = django_request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
    if not raw.strip():
        raise ParseError("Request body is empty; send a report object or a list of them.")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ParseError("Request body is not UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}.") from None
