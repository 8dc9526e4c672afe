"""Fixtures for the alerting tests: real local receivers (HTTP and SMTP), channels and
rules, and the alert tasks' messages captured so a test runs them when it chooses."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import TestCase
from werkzeug import Request, Response

from alerts import tasks
from alerts.models import AlertRule, Channel

SECRET = "whsec-alerts-0123456789"


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A Slack or webhook receiver on a real local HTTP server. ``statuses`` are answered in
    turn (the last one repeats), each after ``delay`` seconds."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    body: str = "ok"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.received.append(Received(request.get_data(), dict(request.headers),
                                          time.monotonic()))
            n = len(self.received)
        if self.delay:
            time.sleep(self.delay)
        status = self.statuses[min(n, len(self.statuses)) - 1]
        return Response(self.body if status < 400 else "no_service", status=status,
                        content_type="text/plain")


@pytest.fixture
def receiver(httpserver) -> Receiver:
    rx = Receiver(url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook", method="POST").respond_with_handler(rx.handle)
    return rx


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2
    settings.DEFAULT_FROM_EMAIL = "faultline@example.test"
    return settings


@pytest.fixture
def smtp_server(smtp_settings):
    """A real SMTP server (aiosmtpd) on a free local port; Django's SMTP backend points at it."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_settings.EMAIL_PORT = port
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def critical_log(tmp_path, settings):
    """Every test writes the critical log to its own file."""
    path = tmp_path / "critical-alerts.log"
    settings.FAULTLINE = {**settings.FAULTLINE, "ALERT_CRITICAL_LOG_PATH": str(path),
                          "ALERT_BACKOFF_BASE_SECONDS": 1, "ALERT_BACKOFF_CAP_SECONDS": 4}
    return path


def channel(kind: str, *, name: str | None = None, url: str = "", recipients: str = "",
            secret: str = "", enabled: bool = True) -> Channel:
    return Channel.objects.create(kind=kind, name=name or f"{kind.lower()} test", url=url,
                                  recipients=recipients, secret=secret, enabled=enabled)


def configure_defaults(*, slack: str = "", webhook: str = "", email: str = "") -> dict:
    """Fill in the migration's default channels, as an operator would, and enable them."""
    found = {c.kind: c for c in Channel.objects.filter(
        name__in=["Email (on-call)", "Slack", "Webhook"])}
    if email:
        found["EMAIL"].recipients, found["EMAIL"].enabled = email, True
    if slack:
        found["SLACK"].url, found["SLACK"].enabled = slack, True
    if webhook:
        found["WEBHOOK"].url, found["WEBHOOK"].secret = webhook, SECRET
        found["WEBHOOK"].enabled = True
    for c in found.values():
        c.disabled_reason = "" if c.enabled else c.disabled_reason
        c.save()
    return found


def rule(name: str, *, channels=(), **fields) -> AlertRule:
    r = AlertRule.objects.create(name=name, **fields)
    r.channels.set(channels)
    return r


class TaskQueue:
    """The alert tasks' messages, kept instead of sent to a broker; run() runs them inline
    (with their on-commit callbacks), in order, as a worker on the alerts queue would."""

    TASKS = (tasks.alerts_evaluate_digest, tasks.alerts_circuit_opened,
             tasks.alerts_dead_letter_created, tasks.alert_deliver, tasks.alerts_operational,
             tasks.alerts_fallback_failed)

    def __init__(self) -> None:
        self.messages: list[tuple[Any, dict, dict]] = []
        self.log: list[str] = []

    def record(self, task, kwargs=None, **options) -> None:
        self.messages.append((task, dict(kwargs or {}), options))
        self.log.append(f"queued {task.name}")

    def names(self) -> list[str]:
        return [task.name for task, _, _ in self.messages]

    def run(self, name: str | None = None, *, limit: int = 100) -> list[Any]:
        results = []
        for _ in range(limit):
            index = next((i for i, (t, _, _) in enumerate(self.messages)
                          if name is None or t.name == name), None)
            if index is None:
                break
            task, kwargs, _ = self.messages.pop(index)
            with TestCase.captureOnCommitCallbacks(execute=True):
                results.append(task.run(**kwargs))
            self.log.append(f"ran {task.name}")
        return results


@pytest.fixture
def queue(monkeypatch) -> TaskQueue:
    q = TaskQueue()
    for task in TaskQueue.TASKS:
        monkeypatch.setattr(task, "apply_async",
                            lambda kwargs=None, _task=task, **options: q.record(_task, kwargs,
                                                                                 **options))
    return q
