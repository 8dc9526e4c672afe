"""discard_unread_body: what a refused request's body is read for (over gunicorn:
test_refused_body_gunicorn.py)."""

import io

from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory

from resilience.infra.unread_body import discard_unread_body


def _request(body: bytes, *, declared: str | None = None) -> tuple[WSGIRequest, io.BytesIO]:
    request = RequestFactory().post("/api/v1/errors/", data=body,
                                    content_type="application/json")
    stream = io.BytesIO(body)
    request.META["wsgi.input"] = stream
    if declared is not None:
        request.META["CONTENT_LENGTH"] = declared
    return WSGIRequest(request.META), stream


def test_a_body_within_the_limit_is_read_to_its_end():
    request, stream = _request(b"x" * 200_000)
    assert discard_unread_body(request, limit=1_000_000)
    assert stream.tell() == 200_000


def test_a_body_declared_over_the_limit_is_left_unread():
    request, stream = _request(b"x" * 2_000, declared="2000")
    assert not discard_unread_body(request, limit=1_000)
    assert stream.tell() == 0


def test_no_declared_length_reads_nothing():
    request, stream = _request(b"x" * 10, declared="")
    assert not discard_unread_body(request, limit=1_000)
    assert stream.tell() == 0


def test_what_the_view_read_already_is_not_read_again():
    request, stream = _request(b"a" * 100 + b"b" * 50)
    assert request.read(100) == b"a" * 100
    assert discard_unread_body(request, limit=1_000)
    assert stream.tell() == 150
