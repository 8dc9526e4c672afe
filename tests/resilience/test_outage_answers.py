"""What a client sees while a dependency is down: a spooled report is accepted (201 with
"spooled", Sentry 200); a full spool or a key that cannot be checked is a JSON 503 with
Retry-After naming the dependency; never Django's HTML "Server Error (500)".

The database is made unreachable for real: the connection is closed and pointed at a port
nothing listens on, so the next query fails to connect as it would with PostgreSQL down.
"""

import contextlib
import json
import socket
import sys
from pathlib import Path

import pytest
import redis
from django.db import OperationalError, connection
from django.test import Client

from resilience.ingest import spool
from resilience.ingest.outage import outage_response, server_error
from resilience.models import ErrorLogEntry
from tests import factories


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def database_unreachable():
    saved = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["HOST"], connection.settings_dict["PORT"] = "127.0.0.1", str(
        _closed_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved


@pytest.fixture
def outage_settings(settings, tmp_path):
    # The key cache is what lets a known key through while the database is down.
    settings.FAULTLINE = {**settings.FAULTLINE, "SPOOL_DIR": str(tmp_path / "spool"),
                          "AUTH_CACHE_SECONDS": 60.0}
    from resilience.ingest import keys

    keys._cache.clear()
    yield settings
    spool.spool_rotate()
    keys._cache.clear()


REPORT = {"code": "ECONNREFUSED", "message": "db down", "operation": "orders.save"}


def test_a_report_is_spooled_and_answered_with_its_decision(
        postgresql_only, transactional_db, outage_settings):
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    stored = client.post("/api/v1/errors/", {**REPORT, "event_id": "before"},
                         content_type="application/json")
    assert stored.status_code == 201 and stored.json()["id"] and "spooled" not in stored.json()
    with database_unreachable():
        spooled = client.post("/api/v1/errors/", {**REPORT, "event_id": "during"},
                              content_type="application/json")
    assert spooled.status_code == 201, spooled.content
    body = spooled.json()
    assert body["spooled"] is True and body["id"] is None and body["event_id"] == "during"
    # The decision needs no database: the same as for the stored report.
    for field in ("category", "severity", "retryable", "recoverable", "strategy"):
        assert body[field] == stored.json()[field], field
    assert not ErrorLogEntry.objects.filter(event_id="during").exists()
    assert spool.spool_drain() == 1
    assert ErrorLogEntry.objects.filter(service=service, event_id="during").count() == 1


def test_a_batch_is_spooled_whole(
        postgresql_only, transactional_db, outage_settings):
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.post("/api/v1/errors/", REPORT, content_type="application/json")  # caches the key
    batch = [{**REPORT, "event_id": f"b{n}"} for n in range(3)]
    with database_unreachable():
        response = client.post("/api/v1/errors/", batch, content_type="application/json")
    assert response.status_code == 201, response.content
    assert [a["event_id"] for a in response.json()] == ["b0", "b1", "b2"]
    assert all(a["spooled"] for a in response.json())
    spool.spool_drain()
    assert ErrorLogEntry.objects.filter(event_id__in=["b0", "b1", "b2"]).count() == 3


def test_an_unknown_key_with_the_database_down_is_a_json_503(
        postgresql_only, transactional_db, outage_settings):
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service)  # never used, so not cached
    with database_unreachable():
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
            "/api/v1/errors/", REPORT, content_type="application/json")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "10"
    assert response.json()["unavailable"] == "database"
    assert "database is unavailable" in response.json()["message"]


def test_a_full_spool_is_a_503_with_retry_after(
        postgresql_only, transactional_db, outage_settings):
    outage_settings.FAULTLINE = {**outage_settings.FAULTLINE, "SPOOL_MAX_BYTES": 64}
    service = factories.ServiceFactory()
    _, raw = factories.service_key(service)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.post("/api/v1/errors/", REPORT, content_type="application/json")
    with database_unreachable():
        response = client.post("/api/v1/errors/", {**REPORT, "event_id": "no-room"},
                               content_type="application/json")
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert "spool for reports is full" in response.json()["message"]
    assert spool.spool_status().bytes == 0  # nothing half-kept: the client sends it again


def _sentry_store(client, service, public_key, event_id):
    return client.post(
        f"/api/{service.pk}/store/", data=json.dumps({"event_id": event_id, "level": "error",
                                                      "message": "db down"}),
        content_type="application/json",
        HTTP_X_SENTRY_AUTH=f"Sentry sentry_version=7, sentry_key={public_key}",
    )


def test_sentry_store_answers_200_with_the_id_when_spooled(transactional_db, outage_settings):
    service = factories.ServiceFactory()
    key, _ = factories.service_key(service)
    client = Client()
    assert _sentry_store(client, service, key.public_key, "a" * 32).status_code == 200
    with database_unreachable():
        response = _sentry_store(client, service, key.public_key, "b" * 32)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": "b" * 32}
    spool.spool_drain()
    assert ErrorLogEntry.objects.filter(service=service, event_id="b" * 32).count() == 1


def test_sentry_with_a_full_spool_gets_503_and_rate_limit_headers(
    postgresql_only, transactional_db, outage_settings
):
    outage_settings.FAULTLINE = {**outage_settings.FAULTLINE, "SPOOL_MAX_BYTES": 64}
    service = factories.ServiceFactory()
    key, _ = factories.service_key(service)
    client = Client()
    _sentry_store(client, service, key.public_key, "c" * 32)
    with database_unreachable():
        response = _sentry_store(client, service, key.public_key, "d" * 32)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == response["X-Sentry-Rate-Limits"].split(":")[0]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "spool" in response["X-Sentry-Error"]


def test_a_database_error_in_any_view_is_a_json_503(
        postgresql_only, transactional_db, outage_settings):
    operator = factories.operator("triager", role="Triager")
    client = Client()
    client.force_login(operator)
    with database_unreachable():
        response = Client(raise_request_exception=False, HTTP_COOKIE=client.cookies.output(
            header="", sep=";")).get("/api/v1/groups/")
    assert response.status_code == 503, response.content
    assert response.json()["unavailable"] == "database"
    assert response["Retry-After"]


def test_handler500_answers_an_outage_raised_outside_a_view(rf):
    # handler500 runs while Django handles the exception (a middleware's, say).
    request = rf.get("/admin/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        assert sys.exc_info()[0] is OperationalError
        response = server_error(request)
    assert response.status_code == 503
    assert json.loads(response.content)["unavailable"] == "database"


def test_handler500_keeps_the_500_for_a_bug(rf, settings):
    request = rf.get("/admin/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500


def test_redis_down_is_named_in_the_answer():
    try:
        redis.Redis(port=_closed_port(), socket_connect_timeout=1).ping()
    except redis.ConnectionError as exc:
        response = outage_response(exc)
    assert response.status_code == 503
    assert json.loads(response.content)["unavailable"] == "redis"
    assert response["Retry-After"] == "10"


def test_readyz_fails_when_the_spool_is_nearly_full(db, outage_settings, settings):
    settings.CELERY_BROKER_URL = "memory://"
    outage_settings.FAULTLINE = {**outage_settings.FAULTLINE, "SPOOL_MAX_BYTES": 1000}
    from resilience.ingest.spool.segments import SegmentWriter

    SegmentWriter(Path(outage_settings.FAULTLINE["SPOOL_DIR"]), max_bytes=1000).append(
        [{"m": "x" * 900}], now=1.0)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["spool"].startswith("spool: ")
    assert response.json()["spool_bytes"] > 900
