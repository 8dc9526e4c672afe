"""Helpers for the tests that run a real SDK against pytest-django's live_server."""

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

