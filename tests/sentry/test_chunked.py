"""Chunked request bodies (no Content-Length), as @sentry/node sends them, over real HTTP."""

import http.client
from urllib.parse import urlsplit

import pytest

from resilience.models import ErrorLogEntry
from tests.sentry.envelopes import compress, envelope, exception_event

pytestmark = pytest.mark.django_db(transaction=True)


def post_chunked(live_server, path, body, headers):
    url = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    pieces = (body[i : i + 1000] for i in range(0, len(body), 1000))
    conn.request("POST", path, body=pieces, headers=headers, encode_chunked=True)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_chunked_envelope_is_read_whole(live_server, service, sentry_key, encoding):
    event = exception_event(extra={"padding": "x" * 5000})
    body = envelope(("event", event))
    headers = {"Transfer-Encoding": "chunked"}
    if encoding:
        body = compress(body, encoding)
        headers["Content-Encoding"] = encoding
    status, data = post_chunked(
        live_server, f"/api/{service.pk}/envelope/?sentry_key={sentry_key.public_key}", body,
        headers,
    )
    assert status == 200, data
    assert ErrorLogEntry.objects.get().extra["extra"]["padding"] == "x" * 5000


def test_a_chunked_body_over_the_limit_is_a_413(live_server, service, sentry_key, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "SENTRY_MAX_COMPRESSED_BYTES": 3000}
    body = envelope(("event", exception_event(extra={"padding": "x" * 5000})))
    status, data = post_chunked(
        live_server, f"/api/{service.pk}/envelope/?sentry_key={sentry_key.public_key}", body,
        {"Transfer-Encoding": "chunked"},
    )
    assert status == 413, data
    assert not ErrorLogEntry.objects.exists()
