"""Helpers for the tests that run a real SDK against pytest-django's live_server."""

from collections.abc import Iterator
from contextlib import contextmanager

import sentry_sdk
from django.core.signals import request_started


class RequestLog:
    """Paths of the requests the live server received (Django's request_started signal)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __enter__(self) -> "RequestLog":
        request_started.connect(self._seen)
        return self

    def __exit__(self, *exc) -> None:
        request_started.disconnect(self._seen)

    def _seen(self, sender, environ=None, **kwargs) -> None:
        if environ is not None:
            self.paths.append(environ.get("PATH_INFO", ""))

    def count(self, fragment: str) -> int:
        return sum(fragment in path for path in self.paths)



@contextmanager
def python_sdk(dsn: str, **options) -> Iterator:
    """The Python SDK sending to `dsn`, with no integrations or sessions of its own;
    flushed, closed and switched off again on the way out."""
    sentry_sdk.init(**{
        "dsn": dsn, "release": "shop@2.1.0", "environment": "sdk-test",
        "default_integrations": False, "auto_enabling_integrations": False,
        "auto_session_tracking": False, "send_client_reports": False, **options,
    })
    try:
        yield sentry_sdk
    finally:
        sentry_sdk.flush(timeout=5)
        sentry_sdk.get_client().close()
        sentry_sdk.init()
