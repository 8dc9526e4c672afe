"""POST /api/<project_id>/envelope/ and /store/: what Sentry SDKs send.

Plain Django views (no DRF on this path). Each request, cheapest first: credentials from
the header or query string (refused before the body is read), the key's budget (likewise),
and only then the body, decompressed as it is framed. An envelope whose key is in its
header's `dsn` has that one line read, within MAX_UNAUTHENTICATED_HEADER_BYTES, before
anything else; framing stops at INGEST_MAX_BATCH items and every limit is applied while
streaming, so what a request costs is bounded by what it is allowed. Every event is mapped
and validated, the envelope's items are counted against the key's budget, then one
ingest() call stores all of the request's events. Any refusal happens before that call, so
nothing is half-stored. Refusals before authentication count against the sender's address
(rate_limits.unauthenticated_attempt). Replies follow
https://develop.sentry.dev/sdk/expected-features/ (200 {"id"}, 400 with X-Sentry-Error,
429 with Retry-After and X-Sentry-Rate-Limits).

Budgets are per data category, as Sentry's
(https://develop.sentry.dev/sdk/expected-features/rate-limiting/): error events spend the
key's reports budget and a 429 for them names `error;default`, so an SDK still sends its
transactions and sessions; the items dropped unread spend a budget of their own, and past
it the answer (still 200) names their categories.
"""

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.client_ip import client_ip
from resilience import conf
from resilience.core.report_schema import ReportError, validate_report
from resilience.ingest.keys import AuthenticatedKey
from resilience.ingest.outage import outage_response
from resilience.ingest.rate_limits import (
    OTHER_ITEMS,
    REPORTS,
    budget_clock,
    key_budget_consume,
    key_budget_limit,
    rate_limit_consume,
    rate_limit_exhausted,
    unauthenticated_attempt,
    unauthenticated_message,
)
from resilience.ingest.service import ingest
from resilience.observability.process_metrics import (
    SENTRY_ITEMS_FRAMED,
    request_limited,
    sentry_item_dropped,
)
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
    decode_stream,
    maybe_legacy_store_body,
    request_chunks,
)
from resilience.sentry.envelope import EnvelopeError, Item, parse_json_object
from resilience.sentry.framing import EnvelopeStream, LimitExceeded
from resilience.sentry.items import item_kept, item_limits, side_items_store
from resilience.sentry.mapping import EventError, map_event, normalise_event_id

log = logging.getLogger("faultline.sentry")

EVENT_ITEM_TYPES = frozenset({"event", "error"})
# The data categories SDKs rate-limit by: error events ("default" is a message's), and those
# of the item types dropped here (as the Python and JavaScript SDKs name them).
ERROR_CATEGORIES = "error;default"
ITEM_CATEGORIES = {
    "transaction": "transaction", "span": "span", "session": "session", "sessions": "session",
    "attachment": "attachment", "client_report": "internal", "profile": "profile",
    "profile_chunk": "profile_chunk", "replay_event": "replay", "replay_recording": "replay",
    "check_in": "monitor", "log": "log_item", "trace_metric": "trace_metric",
    "feedback": "feedback",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
    # A header value must be one line of Latin-1 (messages quote what the client sent, which
    # may hold any character); the body has the full text.
    line = _CONTROL.sub(" ", exc.message).encode("latin-1", "replace").decode("latin-1")
    response["X-Sentry-Error"] = line[:500]
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _with_cors(response: HttpResponse) -> HttpResponse:
    for name, value in CORS_HEADERS.items():
        response[name] = value
    return response


@dataclass
class _Caller:
    """Who the request turned out to be (None until its key is known), and the time its
    budgets count in, read once so that every count of one request falls in one window."""

    budget_now: float
    key: AuthenticatedKey | None = None
    rate_limits: str | None = None  # X-Sentry-Rate-Limits on an accepted request


def _unauthenticated(request: HttpRequest, refusal: SentryError, *, now: float) -> SentryError:
    """A refusal before the key was known counts against the address; past its budget,
    the answer becomes a 429 (SDKs back off on it) that still says what was wrong."""
    retry_after = unauthenticated_attempt(address=client_ip(request), now=now)
    if retry_after is None:
        return refusal
    return SentryError(429, unauthenticated_message(refusal.message, retry_after),
                       _rate_limit_headers(retry_after))


def _endpoint(accept: Callable[[HttpRequest, int, _Caller], dict[str, Any]]):
    @csrf_exempt
    def view(request: HttpRequest, project_id: str) -> HttpResponse:
        if request.method == "OPTIONS":  # a browser SDK's CORS preflight
            return _with_cors(HttpResponse(status=200))
        if request.method != "POST":
            response = _refusal(SentryError(405, "only POST is accepted here"))
            response["Allow"] = "POST, OPTIONS"
            return _with_cors(response)
        caller = _Caller(budget_now=budget_clock())
        try:
            answer = accept(request, int(project_id), caller)
        except (SentryError, SentryAuthError) as exc:
            refusal = exc if isinstance(exc, SentryError) else SentryError(exc.status,
                                                                           exc.message)
            if caller.key is None:
                refusal = _unauthenticated(request, refusal, now=caller.budget_now)
            return _with_cors(_refusal(refusal))
        except Exception as exc:
            # A database outage is spooled and answered 200 as usual; only a full spool or a key
            # that cannot be checked without the database gets here: 503, Retry-After and
            # X-Sentry-Rate-Limits, so the SDK backs off.
            outage = outage_response(exc, request)
            if outage is None:
                raise
            return _with_cors(outage)
        response = JsonResponse(answer)
        if caller.rate_limits:
            response["X-Sentry-Rate-Limits"] = caller.rate_limits
        return _with_cors(response)

    view.__name__ = accept.__name__
    return view


# --- the steps, in order ---------------------------------------------------------------

# Before the key is known, the envelope header line is read only this far. SDKs send a few
# hundred bytes (event_id, sent_at, dsn, sdk, trace).
MAX_UNAUTHENTICATED_HEADER_BYTES = 8 * 1024
# An item's header line (type, length, an attachment's filename and content type).
MAX_ITEM_HEADER_BYTES = 64 * 1024


def _early_key(request: HttpRequest, project_id: int) -> tuple[str | None, AuthenticatedKey | None]:
    """Credentials sent beside the body are checked before the body is read."""
    # request.GET builds a QueryDict even for no query string: SDKs that send the header
    # send none, and it is asked only when there is one (browser SDKs).
    query = request.META.get("QUERY_STRING")
    public_key = request_public_key(
        header=request.META.get("HTTP_X_SENTRY_AUTH"),
        query_key=request.GET.get("sentry_key") if query else None,
    )
    return public_key, authenticate(public_key, project_id) if public_key else None


def _rate_limit_headers(retry_after: int, categories: str = "") -> dict[str, str]:
    """`categories` empty: every category (what the key's own budgets cannot tell apart)."""
    return {"Retry-After": str(retry_after),
            "X-Sentry-Rate-Limits": f"{retry_after}:{categories}:key"}


def _over_budget(key: AuthenticatedKey, retry_after: int) -> SentryError:
    return SentryError(
        429,
        f"rate limit of {key.rate_limit_per_minute} reports per minute exceeded for this key "
        "(an envelope counts each of its error events)",
        _rate_limit_headers(retry_after, ERROR_CATEGORIES),
    )


def _events_refused(key: AuthenticatedKey, retry_after: int) -> SentryError:
    request_limited(REPORTS.name)
    return _over_budget(key, retry_after)


def _budget_left(key: AuthenticatedKey, *, now: float) -> int | None:
    """Seconds until error events fit again (None: they fit now). A key with nothing left
    for any item is refused before its body is read; one with no room for events only is
    read, since the envelope may carry nothing else (transactions, sessions)."""
    events_wait = rate_limit_exhausted(key_id=key.key_id, limit=key.rate_limit_per_minute,
                                       now=now, refusing=False)
    if events_wait is None:
        return None
    other_wait = rate_limit_exhausted(
        key_id=key.key_id, limit=key_budget_limit(key=key, scope=OTHER_ITEMS.name), now=now,
        scope=OTHER_ITEMS.name,
    )
    if other_wait is not None:
        request_limited(REPORTS.name)
        raise SentryError(429, "rate limits exceeded for this key: error events and other "
                          "items alike", _rate_limit_headers(max(events_wait, other_wait)))
    return events_wait


def _other_items(key: AuthenticatedKey, dropped: Counter[str], cost: int, *,
                 now: float) -> str | None:
    """Count the items dropped unread against their own budget. Past it nothing changes
    for them (they are not kept either way) but the answer names their categories, so
    the SDK holds them back: the X-Sentry-Rate-Limits value, or None."""
    retry_after = key_budget_consume(key=key, scope=OTHER_ITEMS.name, now=now, cost=cost)
    categories = sorted({ITEM_CATEGORIES[t] for t in dropped if t in ITEM_CATEGORIES})
    if retry_after is None or not categories:
        return None
    return f"{retry_after}:{';'.join(categories)}:key"


def _rate_limit(key: AuthenticatedKey, cost: int, *, now: float) -> None:
    retry_after = rate_limit_consume(
        key_id=key.key_id, limit=key.rate_limit_per_minute, now=now, cost=cost
    )
    if retry_after is not None:
        raise _over_budget(key, retry_after)


@contextmanager
def _body_errors() -> Iterator[None]:
    """What reading, decompressing and framing the body can refuse, as answers."""
    try:
        yield
    except BodyTooLarge as exc:
        raise SentryError(413, f"Request body too large: {exc}") from None
    except UnsupportedEncoding as exc:
        raise SentryError(415, str(exc)) from None
    except BadBody as exc:
        raise SentryError(400, f"Bad request body: {exc}") from None
    except LimitExceeded as exc:
        raise SentryError(413, f"Envelope too large: {exc}") from None
    except EnvelopeError as exc:
        raise SentryError(400, f"Invalid envelope: {exc}") from None
    except RecursionError:  # JSON nested deeper than the parser goes
        raise SentryError(400, "Invalid envelope: JSON nested too deeply") from None


def _body(request: HttpRequest, *, max_decompressed: int) -> Iterator[bytes]:
    """The body, decompressed only as far as it is read."""
    pieces = request_chunks(request, limit=conf.get("SENTRY_MAX_COMPRESSED_BYTES"))
    return decode_stream(pieces, request.META.get("HTTP_CONTENT_ENCODING"),
                         max_decompressed=max_decompressed)


def _report(event: Any, *, where: str, fallback_event_id: Any, now) -> dict[str, Any]:
    """One event → a validated report with its extra and severity floor attached.

    The event was read by parse_json_object (safe_json, text replaced), and the mapping
    cuts and repairs what it builds: its text is storable as it is, so neither the mapping
    nor the validation checks it again (`parsed`, `text_checked`); lengths, types and
    values still are."""
    try:
        mapped = map_event(event, fallback_event_id=fallback_event_id, parsed=True)
        report = validate_report(mapped.report, where=where, now=now, text_checked=True)
    except (EventError, ReportError) as exc:
        raise SentryError(400, f"Invalid event ({where}): {exc}") from None
    report["extra"] = mapped.extra
    if mapped.severity_floor:
        report["severity_floor"] = mapped.severity_floor
    if mapped.severity:
        report["level_severity"] = mapped.severity
    return report


def _store(
    key: AuthenticatedKey, reports: list[dict[str, Any]], *, cost: int, now: datetime,
    budget_now: float,
) -> None:
    # The same event twice in one request is stored once (ingest is idempotent across
    # requests; within one INSERT a duplicate would be an error).
    seen: set[str] = set()
    unique = []
    for report in reports:
        if report["event_id"] not in seen:
            seen.add(report["event_id"])
            unique.append(report)
    _rate_limit(key, cost, now=budget_now)
    if unique:
        ingest(unique, service_id=key.service_id, now=now, source="sentry")


def _kept(item_type: str) -> bool:
    return item_type in EVENT_ITEM_TYPES or item_kept(item_type)


def envelope(request: HttpRequest, project_id: int, caller: _Caller) -> dict[str, Any]:
    request_key, caller.key = _early_key(request, project_id)
    events_wait = None
    if caller.key is not None:
        events_wait = _budget_left(caller.key, now=caller.budget_now)
    max_event = conf.get("SENTRY_MAX_EVENT_BYTES")
    now = timezone.now()
    reports: list[dict[str, Any]] = []
    side: list[Item] = []  # attachments, feedback, check-ins: kept after the events
    dropped: Counter[str] = Counter()
    items = 0
    with _body_errors():
        stream = EnvelopeStream(
            _body(request, max_decompressed=conf.get("SENTRY_MAX_DECOMPRESSED_BYTES"))
        )
        # Without a key beside the body, only the header line is read to find its dsn.
        headers = stream.header(
            max_line=None if caller.key else MAX_UNAUTHENTICATED_HEADER_BYTES
        )
        public_key = resolve_public_key(
            request_key=request_key, envelope_dsn=headers.get("dsn"), project_id=project_id
        )
        if caller.key is None:
            caller.key = authenticate(public_key, project_id)
            events_wait = _budget_left(caller.key, now=caller.budget_now)
        header_event_id = headers.get("event_id")
        for item in stream.items(max_items=conf.get("INGEST_MAX_BATCH"),
                                 keep=_kept, max_kept=max_event,
                                 max_line=MAX_ITEM_HEADER_BYTES, skip_over=item_limits()):
            items += 1
            SENTRY_ITEMS_FRAMED.inc()
            if item_kept(item.type):
                side.append(item)
                continue
            if item.type not in EVENT_ITEM_TYPES:
                dropped[item.type] += 1  # answered 200 and not kept: see docs/api.md
                continue
            if events_wait is not None:  # no room for events: refused at the first one
                raise _events_refused(caller.key, events_wait)
            where = f"item {items} ({item.type})"
            try:
                event = parse_json_object(item.payload, where)
            except EnvelopeError as exc:
                raise SentryError(400, f"Invalid event: {exc}") from None
            reports.append(_report(event, where=where, fallback_event_id=header_event_id,
                                   now=now))
    # Events count against the reports budget; every other item (and an empty envelope,
    # as one) against its own, since each was read and framed.
    events = items - sum(dropped.values()) - len(side)
    _store(caller.key, reports, cost=events, now=now, budget_now=caller.budget_now)
    caller.rate_limits = _other_items(caller.key, dropped, max(1, items) - events,
                                      now=caller.budget_now)
    dropped.update(side_items_store(
        service_id=caller.key.service_id, items=side, now=now,
        event_id=normalise_event_id(header_event_id)
        or (reports[0]["event_id"] if len(reports) == 1 else None)))
    for item_type, count in dropped.items():
        sentry_item_dropped(item_type, count)
    if not reports:
        return {}
    return {"id": normalise_event_id(header_event_id) or reports[0]["event_id"]}


def store(request: HttpRequest, project_id: int, caller: _Caller) -> dict[str, Any]:
    """The older single-event endpoint: the body is one event."""
    request_key, caller.key = _early_key(request, project_id)
    if caller.key is None:  # no envelope header to carry a dsn: the request has to say who
        resolve_public_key(request_key=request_key, envelope_dsn=None, project_id=project_id)
    assert caller.key is not None
    events_wait = rate_limit_exhausted(key_id=caller.key.key_id,
                                       limit=caller.key.rate_limit_per_minute,
                                       now=caller.budget_now)
    if events_wait is not None:  # the body is one event: refused before it is read
        raise _over_budget(caller.key, events_wait)
    max_event = conf.get("SENTRY_MAX_EVENT_BYTES")
    with _body_errors():
        body = b"".join(_body(request, max_decompressed=max_event))
        body = maybe_legacy_store_body(body, max_decompressed=max_event)
    if not body.strip():
        raise SentryError(400, "Invalid event: the body is empty")
    try:
        event = parse_json_object(body, "the event")
    except EnvelopeError as exc:
        raise SentryError(400, f"Invalid event: {exc}") from None
    now = timezone.now()
    report = _report(event, where="the event", fallback_event_id=None, now=now)
    _store(caller.key, [report], cost=1, now=now, budget_now=caller.budget_now)
    return {"id": report["event_id"]}


envelope_view = _endpoint(envelope)
store_view = _endpoint(store)
