"""The one seam for Faultline's outbound calls: HTTP POSTs and Celery task messages.

Everything that leaves the process to someone else's system (dead-letter replays, alert
webhooks) goes through here, so every call gets the same rules and every failure is
reported the same way (after bugsink's ``safe_post`` and healthchecks' transports):

- a fixed timeout (``FAULTLINE["OUTBOUND_TIMEOUT_SECONDS"]``), per socket operation;
- redirects are never followed (a 3xx is a permanent failure: the target is misconfigured,
  and following it could send a signed payload somewhere nobody chose);
- only ``http`` and ``https`` URLs;
- success returns an ``OutboundResult``; failure raises ``OutboundError`` whose
  ``permanent`` says whether trying again could help: connection errors, timeouts, 5xx,
  408 and 429 are not permanent; any other 4xx, a 3xx, or a bad URL is.

The standard library's urllib is enough here (no extra dependency); environment proxy
settings (``HTTPS_PROXY``, ``NO_PROXY``) are honoured as urllib does.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from resilience import conf

EXCERPT_CHARS = 1000
_READ_LIMIT = 64 * 1024
USER_AGENT = "Faultline/1 (+outbound)"
# 4xx answers that mean "not now" rather than "never".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class OutboundResult:
    status: int
    body_excerpt: str
    duration_ms: int


class OutboundError(Exception):
    """An outbound call failed. ``permanent``: trying again unchanged will not help."""

    def __init__(
        self, message: str, *, permanent: bool, status: int | None = None,
        body_excerpt: str = "", duration_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.body_excerpt = body_excerpt
        self.duration_ms = duration_ms


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx itself


_opener = urllib.request.build_opener(_NoRedirects)


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def check_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL (raises a permanent OutboundError)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"refusing to call {url!r}: only http and https URLs",
                            permanent=True)


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    timeout: float | None = None,
) -> OutboundResult:
    """POST ``body`` to ``url``; a 2xx answer is success, anything else raises."""
    check_url(url)
    timeout = conf.get("OUTBOUND_TIMEOUT_SECONDS") if timeout is None else timeout
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(_READ_LIMIT)
            return OutboundResult(response.status, _excerpt(raw), elapsed())
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            raw = exc.read(_READ_LIMIT)
        except (OSError, ValueError):
            raw = b""
        finally:
            exc.close()
        if 300 <= status < 400:
            where = exc.headers.get("Location", "") if exc.headers else ""
            message = f"HTTP {status}: redirects are not followed (to {where!r})"
            permanent = True
        else:
            message = f"HTTP {status}"
            permanent = 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES
        raise OutboundError(message, permanent=permanent, status=status,
                            body_excerpt=_excerpt(raw), duration_ms=elapsed()) from None
    except TimeoutError:
        raise OutboundError(f"timed out after {timeout:g}s", permanent=False,
                            duration_ms=elapsed()) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            message = f"timed out after {timeout:g}s"
        else:
            message = f"connection failed: {reason}"
        raise OutboundError(message, permanent=False, duration_ms=elapsed()) from None
    except (OSError, ValueError) as exc:  # reset mid-response, bad status line, …
        raise OutboundError(f"connection failed: {exc}", permanent=False,
                            duration_ms=elapsed()) from None


def send_task(task_name: str, *, kwargs: dict[str, Any]) -> str:
    """Publish a message for the Celery task ``task_name`` on the configured broker.

    Routing follows CELERY_TASK_ROUTES like any other message. Returns the task id. A
    broker failure is not permanent (the broker may come back).
    """
    # The project's app (its broker and routes), not celery.current_app: any other Celery
    # app created later in the process (a library's, a test's) would become "current".
    from config.celery_app import app

    if not task_name:
        raise OutboundError("no task name", permanent=True)
    try:
        result = app.send_task(task_name, kwargs=kwargs)
    except Exception as exc:  # noqa: BLE001 - kombu raises many types; all mean "not sent"
        raise OutboundError(f"broker unavailable: {exc}", permanent=False) from None
    return result.id
