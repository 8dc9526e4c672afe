"""The fuzz run's world: a reporting service with its key, an operator with a token, and a
few rows of each kind so that `{id}` paths also reach real objects, all committed on
PostgreSQL (the app runs in-process through WSGI, so it must see them)."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from accounts.services import operator_token_create
from resilience.digest.service import digest_batch
from resilience.ingest import entry_writer
from resilience.models import DeadLetter, ErrorGroup, ErrorLogEntry
from tests import factories


@dataclass
class World:
    service_auth: str  # the Authorization header of each
    operator_auth: str


# Ids and names that exist, filled by `world`, read by test_api_fuzz's hook while
# examples are drawn (so after the fixture ran).
KNOWN: dict[str, list] = {}

SEED_REPORTS = [
    {"code": "ECONNREFUSED", "message": "refused", "operation": "payment.charge",
     "attempt_count": 1},
    {"code": "ValidationError", "message": "amount must be positive", "operation": "order.create"},
    {"code": "IntegrityError", "message": "duplicate key", "operation": "database.write",
     "attempt_count": 3},
]


class _Close(tuple):
    """A job with no rows that asks the committer's thread to close its connection."""


class ClosableCommitter(entry_writer.GroupCommitter):
    """The group committer as production runs it, plus close(): its thread holds its own
    connection, which would keep the test database from being dropped at the end."""

    def _commit(self, batch) -> None:
        rows = [job for job in batch if not isinstance(job.entries, _Close)]
        if rows:
            super()._commit(rows)
        for job in batch:
            if isinstance(job.entries, _Close):
                connections.close_all()
                job.result = []
                job.done.set()

    def close(self) -> None:
        self.submit(_Close())


def _operator_token() -> str:
    user = User.objects.create_superuser("fuzz-operator", password="pw-fuzz-operator")
    return operator_token_create(user=user)[1]


@pytest.fixture
def world(transactional_db, postgres, monkeypatch, settings) -> Iterator[World]:
    # Requests run in this thread through WSGI; no connection may outlive the test, or the
    # test database cannot be dropped at the end of the session.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    # As production runs: reports from many requests share one commit.
    settings.FAULTLINE = {**settings.FAULTLINE, "INGEST_GROUP_COMMIT": True}
    committer = ClosableCommitter(max_rows=500)
    monkeypatch.setattr(entry_writer, "_committer", committer)
    service = factories.ServiceFactory(name="fuzz-service")
    _key, raw_key = factories.service_key(service)
    service_auth = f"Bearer {raw_key}"
    client = Client(HTTP_AUTHORIZATION=service_auth)
    answer = client.post("/api/v1/errors/", data=SEED_REPORTS, content_type="application/json")
    assert answer.status_code == 201, answer.content
    digest_batch(limit=100)
    answer = client.post("/api/v1/dead-letters/", content_type="application/json", data={
        "operation": "database.write", "payload": {"order": 1}, "reason": "gave up"})
    assert answer.status_code == 201, answer.content
    # Replays are only queued here (the broker is in memory): the target makes them 202.
    factories.ReplayTargetFactory(service=service, operation="database.write")
    KNOWN.clear()
    KNOWN.update({
        "entries": list(ErrorLogEntry.objects.values_list("pk", flat=True)),
        "groups": list(ErrorGroup.objects.values_list("pk", flat=True)),
        "dead_letters": list(DeadLetter.objects.values_list("pk", flat=True)),
        "operations": [r["operation"] for r in SEED_REPORTS],
    })
    yield World(service_auth=service_auth, operator_auth=f"Token {_operator_token()}")
    committer.close()
