"""Fixtures for the dead-letter tests: a receiving webhook, and the replay queue run inline."""

import json
import threading
import time
from dataclasses import dataclass, field

import pytest
from werkzeug import Request, Response

from resilience import tasks
from resilience.dead_letters.replay import REPLAY_TASK
from tests import factories


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver on a real local HTTP server; answers `status` (after `delay`)."""

    url: str
    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        with self.lock:
            self.received.append(Received(request.get_data(), dict(request.headers), arrived))
        if self.delay:
            time.sleep(self.delay)
        return Response(json.dumps({"ok": self.status < 400}), status=self.status,
                        content_type="application/json")


@pytest.fixture
def receiver(httpserver) -> Receiver:
    rx = Receiver(url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook", method="POST").respond_with_handler(rx.handle)
    return rx


@pytest.fixture
def target(service, receiver):
    return factories.ReplayTargetFactory(service=service, url=receiver.url)


class ReplayQueue(list):
    """Task messages the code under test queued, run inline on demand (no worker)."""

    def run(self) -> int:
        runs = 0
        while self:
            tasks.dead_letter_replay(**self.pop(0))
            runs += 1
        return runs


@pytest.fixture
def replay_queue(catch_task) -> ReplayQueue:
    queue = ReplayQueue()
    catch_task(REPLAY_TASK, lambda kwargs, **options: queue.append(kwargs))
    return queue
