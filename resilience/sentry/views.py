"""POST /api/<project_id>/envelope/ and /store/: what Sentry SDKs send.

Plain Django views (no DRF on this path). Each request: credentials from the header or
query string (refused early, before the body is read), the body read and decompressed
within limits, framed, every event mapped and validated, the key's rate limit, then one
ingest() call for all of the request's events. Any refusal happens before that call, so
nothing is half-stored. Replies follow https://develop.sentry.dev/sdk/expected-features/
(200 {"id"}, 400 with X-Sentry-Error, 429 with Retry-After and X-Sentry-Rate-Limits).
"""

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from resilience import conf
from resilience.metrics import sentry_item_dropped
from resilience.report_schema import ReportError, validate_report
from resilience.sentry.auth import (
    SentryAuthError,
    authenticate,
    request_public_key,
    resolve_public_key,
)
from resilience.sentry.decoding import (
    BadBody,
    BodyTooLarge,
    UnsupportedEncoding,
    decode_body,
    maybe_legacy_store_body,
    request_chunks,
)
from resilience.sentry.envelope import EnvelopeError, parse_envelope, parse_json_object
from resilience.sentry.mapping import EventError, map_event, normalise_event_id
from resilience.services.ingest import ingest
from resilience.services.keys import AuthenticatedKey
from resilience.services.rate_limits import rate_limit_consume

log = logging.getLogger("faultline.sentry")

EVENT_ITEM_TYPES = frozenset({"event", "error"})
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "x-sentry-auth, content-type, content-encoding, "
    "sentry-trace, baggage",
    "Access-Control-Expose-Headers": "x-sentry-error, x-sentry-rate-limits, retry-after",
    "Access-Control-Max-Age": "86400",
}


class SentryError(Exception):
    """A refusal: status, what is wrong (sent as X-Sentry-Error too), extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _refusal(exc: SentryError) -> HttpResponse:
    response = JsonResponse({"detail": exc.message}, status=exc.status)
    # A header value must be one line of Latin-1; the body has the full text.
    response["X-Sentry-Error"] = exc.message.encode("latin-1", "replace").decode("latin-1")[:500]
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _with_cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


def _endpoint(accept: Callable[[HttpRequest, int], dict[str, Any]]):
    @csrf_exempt
    def view(request: HttpRequest, project_id: str) -> HttpResponse:
        if request.method == "OPTIONS":  # a browser SDK's CORS preflight
            return _with_cors(HttpResponse(status=200))
        if request.method != "POST":
            response = _refusal(SentryError(405, "only POST is accepted here"))
            response["Allow"] = "POST, OPTIONS"
            return _with_cors(response)
        try:
            answer = accept(request, int(project_id))
        except SentryError as exc:
            return _with_cors(_refusal(exc))
        except SentryAuthError as exc:
            return _with_cors(_refusal(SentryError(exc.status, exc.message)))
        return _with_cors(JsonResponse(answer))

    view.__name__ = accept.__name__
    return view


# --- the steps, in order ---------------------------------------------------------------


def _early_key(request: HttpRequest, project_id: int) -> tuple[str | None, AuthenticatedKey | None]:
    """Credentials sent beside the body are checked before the body is read."""
    public_key = request_public_key(
        header=request.META.get("HTTP_X_SENTRY_AUTH"),
        query_key=request.GET.get("sentry_key"),
    )
    return public_key, authenticate(public_key, project_id) if public_key else None


def _read_body(request: HttpRequest, *, max_decompressed: int) -> bytes:
    try:
        pieces = request_chunks(request, limit=conf.get("SENTRY_MAX_COMPRESSED_BYTES"))
        return decode_body(pieces, request.META.get("HTTP_CONTENT_ENCODING"),
                           max_decompressed=max_decompressed)
    except BodyTooLarge as exc:
        raise SentryError(413, f"Request body too large: {exc}") from None
    except UnsupportedEncoding as exc:
        raise SentryError(415, str(exc)) from None
    except BadBody as exc:
        raise SentryError(400, f"Bad request body: {exc}") from None


def _rate_limit(key: AuthenticatedKey, events: int) -> None:
    retry_after = rate_limit_consume(
        key_id=key.key_id, limit=key.rate_limit_per_minute, cost=events
    )
    if retry_after is not None:
        raise SentryError(
            429,
            f"rate limit of {key.rate_limit_per_minute} events per minute exceeded for this key",
            {"Retry-After": str(retry_after), "X-Sentry-Rate-Limits": f"{retry_after}::key"},
        )


def _report(event: Any, *, where: str, fallback_event_id: Any, now) -> dict[str, Any]:
    """One event → a validated report with its extra and severity floor attached."""
    try:
        mapped = map_event(event, fallback_event_id=fallback_event_id)
        report = validate_report(mapped.report, where=where, now=now)
    except (EventError, ReportError) as exc:
        raise SentryError(400, f"Invalid event ({where}): {exc}") from None
    report["extra"] = mapped.extra
    if mapped.severity_floor:
        report["severity_floor"] = mapped.severity_floor
    return report


def _store(key: AuthenticatedKey, reports: list[dict[str, Any]]) -> None:
    # The same event twice in one request is stored once (ingest is idempotent across
    # requests; within one INSERT a duplicate would be an error).
    seen: set[str] = set()
    unique = []
    for report in reports:
        if report["event_id"] not in seen:
            seen.add(report["event_id"])
            unique.append(report)
    _rate_limit(key, len(unique))
    if unique:
        ingest(unique, service_id=key.service_id, source="sentry")


def envelope(request: HttpRequest, project_id: int) -> dict[str, Any]:
    request_key, key = _early_key(request, project_id)
    body = _read_body(request, max_decompressed=conf.get("SENTRY_MAX_DECOMPRESSED_BYTES"))
    try:
        parsed = parse_envelope(body)
    except EnvelopeError as exc:
        raise SentryError(400, f"Invalid envelope: {exc}") from None
    public_key = resolve_public_key(
        request_key=request_key, envelope_dsn=parsed.headers.get("dsn"), project_id=project_id
    )
    if key is None:
        key = authenticate(public_key, project_id)

    max_event = conf.get("SENTRY_MAX_EVENT_BYTES")
    now = timezone.now()
    reports: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    header_event_id = parsed.headers.get("event_id")
    for index, item in enumerate(parsed.items, start=1):
        if item.type not in EVENT_ITEM_TYPES:
            dropped[item.type] += 1  # answered 200 and not kept: see docs/api.md
            continue
        where = f"item {index} ({item.type})"
        if len(item.payload) > max_event:
            raise SentryError(413, f"{where} is {len(item.payload)} bytes; the limit for one "
                                   f"event is {max_event}")
        try:
            event = parse_json_object(item.payload, where)
        except EnvelopeError as exc:
            raise SentryError(400, f"Invalid event: {exc}") from None
        reports.append(_report(event, where=where, fallback_event_id=header_event_id, now=now))
    _store(key, reports)
    for item_type, count in dropped.items():
        sentry_item_dropped(item_type, count)
    if not reports:
        return {}
    return {"id": normalise_event_id(header_event_id) or reports[0]["event_id"]}


def store(request: HttpRequest, project_id: int) -> dict[str, Any]:
    """The older single-event endpoint: the body is one event."""
    request_key, key = _early_key(request, project_id)
    if key is None:  # no envelope header to carry a dsn: the request has to say who
        resolve_public_key(request_key=request_key, envelope_dsn=None, project_id=project_id)
    max_event = conf.get("SENTRY_MAX_EVENT_BYTES")
    body = _read_body(request, max_decompressed=max_event)
    try:
        body = maybe_legacy_store_body(body, max_decompressed=max_event)
    except BodyTooLarge as exc:
        raise SentryError(413, f"Request body too large: {exc}") from None
    except BadBody as exc:
        raise SentryError(400, f"Bad request body: {exc}") from None
    if not body.strip():
        raise SentryError(400, "Invalid event: the body is empty")
    try:
        event = parse_json_object(body, "the event")
    except EnvelopeError as exc:
        raise SentryError(400, f"Invalid event: {exc}") from None
    assert key is not None
    report = _report(event, where="the event", fallback_event_id=None, now=timezone.now())
    _store(key, [report])
    return {"id": report["event_id"]}


envelope_view = _endpoint(envelope)
store_view = _endpoint(store)
