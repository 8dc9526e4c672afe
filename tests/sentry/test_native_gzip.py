"""The native API reuses the decoder: POST /api/v1/errors/ with Content-Encoding: gzip."""

import gzip
import json

from resilience.models import ErrorLogEntry
from tests.sentry.envelopes import zeros_bomb


def test_a_gzip_report_is_accepted(service_client):
    body = gzip.compress(json.dumps({"code": "ECONNREFUSED", "message": "refused"}).encode())
    response = service_client.post("/api/v1/errors/", data=body, content_type="application/json",
                                   HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201, response.content
    assert response.json()["category"] == "TRANSIENT"


def test_a_gzip_bomb_is_a_413(service_client):
    response = service_client.post("/api/v1/errors/", data=zeros_bomb("gzip"),
                                   content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert not ErrorLogEntry.objects.exists()


def test_a_corrupt_gzip_body_is_a_400(service_client):
    response = service_client.post("/api/v1/errors/", data=b"not gzip at all",
                                   content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "decompressed" in response.json()["message"]
