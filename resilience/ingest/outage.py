"""A dependency outage on the request path is a 503 in JSON with Retry-After, never
Django's HTML "Server Error (500)": clients treat a 500 as a bug, a 503 as "come back".

The body names the dependency in words a client can log. The middleware answers for
exceptions raised by views; `server_error` (handler500) for those raised anywhere else
(a middleware reading the session, say). It also starts the spool's drainer when the
process starts, so segments left by a dead process are written back.
"""

import re
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from resilience.ingest import spool

# Seconds a client should wait: a restart or a failover usually takes about that long.
RETRY_AFTER_SECONDS = 10
# A full spool drains at thousands of entries a second once the database is back.
SPOOL_FULL_RETRY_AFTER_SECONDS = 30
_SENTRY_PATH = re.compile(r"^/api/[0-9]+/(envelope|store)/?$")

_MESSAGES = {
    "database": "The database is unavailable; nothing was stored. Send the request again "
    "after Retry-After seconds.",
    "spool": "The database is unavailable and this server's spool for reports is full (or "
    "cannot be written); nothing was stored. Send the request again after Retry-After seconds.",
    "redis": "Redis (the shared cache) is unavailable; nothing was changed. Send the "
    "request again after Retry-After seconds.",
    "broker": "The task broker is unavailable; nothing was changed. Send the request again "
    "after Retry-After seconds.",
}


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency `exc` says is down: a key of _MESSAGES, or None (a real bug)."""
    if isinstance(exc, spool.SpoolFull):
        return "spool"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        redis = None
    if redis is not None and isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return "redis"
    from kombu.exceptions import OperationalError as BrokerError

    if isinstance(exc, BrokerError):
        return "broker"
    return None


def outage_response(exc: BaseException, request: HttpRequest | None = None) -> HttpResponse | None:
    dependency = unavailable_dependency(exc)
    if dependency is None:
        return None
    wait = SPOOL_FULL_RETRY_AFTER_SECONDS if dependency == "spool" else RETRY_AFTER_SECONDS
    message = _MESSAGES[dependency]
    response = JsonResponse(
        {"message": message, "unavailable": "database" if dependency == "spool" else dependency},
        status=503,
    )
    response["Retry-After"] = str(wait)
    if request is not None and _SENTRY_PATH.match(request.path):
        # Sentry SDKs back off on this header instead of hammering the endpoint.
        response["X-Sentry-Rate-Limits"] = f"{wait}::key"
        response["X-Sentry-Error"] = message
    return response


class DependencyOutageMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        spool.drainer_start()  # a process restarted with a non-empty spool drains it

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return outage_response(exception, request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while handling the exception, so it is still at hand."""
    exc = sys.exc_info()[1]
    if exc is not None:
        response = outage_response(exc, request)
        if response is not None:
            return response
    return defaults.server_error(request)
