"""The ways ingest stores a request's rows, for tests that must hold on each of them.

In the test's own transaction the writer takes its savepoint branch; production commits for
real (one INSERT that commits by itself, or a transaction of its own) and, with
INGEST_GROUP_COMMIT on, hands the rows to the committer thread's connection. The `write_path`
fixture (tests/conftest.py) runs a test on all three.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from resilience.ingest import entry_writer
from resilience.models import ErrorLogEntry

IN_TRANSACTION = "in-transaction"
COMMITTED = "committed"
GROUP_COMMIT = "group-commit"

WRITE_PATHS = [
    pytest.param(IN_TRANSACTION, id=IN_TRANSACTION),
    pytest.param(COMMITTED, id=COMMITTED, marks=pytest.mark.django_db(transaction=True)),
    pytest.param(GROUP_COMMIT, id=GROUP_COMMIT, marks=pytest.mark.django_db(transaction=True)),
]


def _in_another_session(read: Callable[[], Any]) -> Any:
    """What a session of its own sees: only committed rows."""
    seen: dict[str, Any] = {}

    def run() -> None:
        try:
            seen["value"] = read()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen["value"]


def stored_event_ids(write_path: str) -> dict[int, str]:
    """id → event_id of every stored entry; committed ones only, on the committing paths."""
    def read() -> dict[int, str]:
        return dict(ErrorLogEntry.objects.values_list("pk", "event_id"))

    if write_path == IN_TRANSACTION:
        return read()  # uncommitted by design: only the test's own session sees them
    stored = _in_another_session(read)
    if write_path == GROUP_COMMIT and stored:
        # The rows really went through the committer (it starts on its first job).
        assert entry_writer._committer is not None
    return stored


def assert_stored_as_answered(write_path: str, answers: list[dict[str, Any]]) -> None:
    """Accepted equals stored: each answer names a stored row with its event, and nothing
    else is stored."""
    assert stored_event_ids(write_path) == {a["id"]: a["event_id"] for a in answers}
