"""A refused request's unread body is read and dropped before its answer goes out.

Views refuse before reading a body whenever they can: a key with nothing left this minute
(429), an unknown or revoked key (401/403), the wrong content type (415). The body is then
still on the socket. gunicorn drains at most 64 KiB of it after the answer, then closes the
connection with the rest unread, and the kernel answers the client's further bytes with a
reset: a client still sending a large batch or envelope saw ECONNRESET or a broken pipe
instead of the 429 and its Retry-After, and retried at once. Reading the rest (up to the
largest body an endpoint accepts, so no more than an accepted request could make us read)
lets the answer arrive and keeps the connection for the next request. A body declared
larger than that is left alone: it is refused by its size, and the connection closes.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, UnreadablePostError

from resilience import conf

_CHUNK_BYTES = 64 * 1024
_METHODS_WITH_BODIES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def drain_limit() -> int:
    """The largest body any endpoint reads: the API's reports or a compressed envelope."""
    return max(conf.get("INGEST_MAX_BODY_BYTES"), conf.get("SENTRY_MAX_COMPRESSED_BYTES"))


def discard_unread_body(request: HttpRequest, *, limit: int) -> bool:
    """Read what is left of the request's declared body and drop it; False when it was
    not (declared over `limit`, none declared, or the client went away)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if not declared.isdigit() or int(declared) > limit:
        return False
    try:
        while request.read(_CHUNK_BYTES):
            pass
    except (OSError, UnreadablePostError):
        return False
    return True


class DiscardRefusedBodies:
    """After an error answer (4xx/5xx) to a request with a body, read what the view left."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 400 and request.method in _METHODS_WITH_BODIES:
            discard_unread_body(request, limit=drain_limit())
        return response
