"""Reading a JSON request body within a size limit, with errors that say what is wrong.

Every JSON body, ours (`read_json_body`) and DRF's (`SafeJSONParser`, the default parser),
goes through `safe_json`: bounded nesting, no NaN/Infinity, no huge integers, UTF-8 only.
Their errors (safe_json.UnsafeJSON, decoding's BodyTooLarge/UnsupportedEncoding/BadBody)
are answered by api/exceptions.py. Kept free of rest_framework.views, whose import loads
this module (DRF's default parser).
"""

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from resilience import conf
from resilience.core import safe_json
from resilience.sentry.decoding import decode_body, request_chunks


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"

def read_json_body(request, *, limit: int, text: safe_json.TextPolicy = "refuse"):
    """Parse the body as JSON, refusing more than `limit` bytes before reading them.

    `text="keep"` leaves NUL and lone surrogates to a validator that names the field
    (report_schema, the dead-letter serializers); the default refuses them here.
    """
    return safe_json.loads(_raw_body(request, limit=limit), text=text)


def read_report_body(request, *, limit: int) -> tuple[object, bool]:
    """The body as read_json_body(text="keep") parses it, and whether its text is already
    known storable (no escape in it can make NUL or a lone surrogate): report_schema then
    skips checking every string and JSON value again."""
    raw = _raw_body(request, limit=limit)
    return safe_json.loads(raw, text="keep"), not safe_json.text_escapes(raw)


def _raw_body(request, *, limit: int) -> bytes:
    """The body's bytes (decompressed), refusing more than `limit` before reading them."""
    django_request = getattr(request, "_request", request)  # DRF's, or a plain view's
    content_type = django_request.content_type or "application/json"
    if content_type != "application/json":
        raise UnsupportedMediaType(content_type, detail="Send the report as application/json.")
    encoding = django_request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    declared = django_request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.")
    if encoding not in ("", "identity"):  # gzip, deflate, br, zstd: `limit` both ways
        raw = decode_body(request_chunks(django_request, limit=limit), encoding,
                          max_decompressed=limit)
    else:
        raw = django_request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
    if not raw.strip():
        raise ParseError("Request body is empty; send a report object or a list of them.")
    return raw


class SafeJSONParser(JSONParser):
    """DRF's JSON parser through safe_json, reading at most INGEST_MAX_BODY_BYTES."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = conf.get("INGEST_MAX_BODY_BYTES")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
        return safe_json.loads(raw)
