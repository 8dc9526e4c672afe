"""A report refused before its body is read still gets its answer, over a real gunicorn.

gunicorn drains at most 64 KiB of a body the application left unread, then closes the
connection; the client, still sending, then sees a reset instead of the 429 and its
Retry-After. Faultline reads and drops such a body (up to INGEST_MAX_BODY_BYTES) before it
answers, so the answer arrives and the connection stays open for the next request."""

import http.client
import json
import uuid

import pytest
from django.conf import settings
from django.db import connection

from resilience.ingest.keys import service_key_create
from resilience.models import Service
from tests.faults import celery_procs as procs

pytestmark = pytest.mark.django_db(transaction=True)

# Well over what loopback buffers hold, so an unread body cannot vanish into them.
BIG_BODY_BYTES = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup):
    """One gunicorn for the module, on the test database (keys are committed: the tests are
    transactional) and the suite's Redis."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("gunicorn reads the test database from another process: PostgreSQL and "
                    "Redis only")
    tmp_path = tmp_path_factory.mktemp("refused-body")
    db = connection.settings_dict
    env = procs.production_env(
        database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                     f"/{db['NAME']}",
        broker_url="memory://",
        var_dir=tmp_path / "var",
    )
    env["REDIS_URL"] = settings.REDIS_URL
    proc, port = procs.gunicorn(env, tmp_path)
    try:
        yield port
    finally:
        proc.stop()


def _report_body(size: int) -> bytes:
    report = {"code": "ECONNRESET", "message": "x", "event_id": uuid.uuid4().hex}
    text = json.dumps(report)
    padding = size - len(text) - len(', "context": {"pad": ""}')
    return json.dumps({**report, "context": {"pad": "p" * max(0, padding)}}).encode()


def _post(conn: http.client.HTTPConnection, key: str, body: bytes):
    conn.request("POST", "/api/v1/errors/", body=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    return response, response.read()


def test_a_refused_big_body_gets_its_429_and_keeps_the_connection(server):
    service = Service.objects.create(name="refused-body", slug=f"refused-{uuid.uuid4().hex[:8]}")
    _, key = service_key_create(service=service, label="one a minute", rate_limit_per_minute=1)
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        response, _ = _post(conn, key, _report_body(200))
        assert response.status == 201

        for _ in range(2):  # the second on the same connection: it was kept open
            response, answer = _post(conn, key, _report_body(BIG_BODY_BYTES))
            assert response.status == 429, answer
            assert int(response.headers["Retry-After"]) >= 1
            assert "Rate limit of 1 reports per minute" in json.loads(answer)["message"]
    finally:
        conn.close()


def test_an_unknown_key_with_a_big_body_gets_its_401(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        response, answer = _post(conn, "fl_not-a-key", _report_body(BIG_BODY_BYTES))
        assert response.status == 401, answer
        response, answer = _post(conn, "fl_not-a-key", _report_body(100))
        assert response.status == 401, answer
    finally:
        conn.close()
