"""The outbound seam against a real local HTTP server: success, 5xx, 4xx, redirects,
timeouts, refused connections, URLs it will not call, and header values and bodies that
must not fail a call. The destination policy: test_outbound_policy.py."""

import json
import time
from urllib.parse import unquote

import pytest
from werkzeug import Response

from resilience.outbound import calls as outbound
from resilience.outbound.calls import OutboundError


def test_a_2xx_is_success_with_status_excerpt_and_duration(httpserver):
    httpserver.expect_request("/ok", method="POST", data=b'{"a":1}',
                              headers={"X-Test": "yes"}).respond_with_data("fine" * 500)
    result = outbound.post(httpserver.url_for("/ok"), b'{"a":1}', headers={"X-Test": "yes"})
    assert result.status == 200
    assert len(result.body_excerpt) == outbound.EXCERPT_CHARS
    assert result.duration_ms >= 0


def test_a_5xx_is_a_temporary_failure_with_the_body(httpserver):
    httpserver.expect_request("/boom").respond_with_data("database down", status=503)
    with pytest.raises(OutboundError) as caught:
        outbound.post(httpserver.url_for("/boom"), b"{}")
    assert (caught.value.status, caught.value.permanent) == (503, False)
    assert caught.value.body_excerpt == "database down"


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (422, True),
                                                   (408, False), (429, False)])
def test_a_4xx_is_permanent_except_timeout_and_too_many_requests(httpserver, status,
                                                                 permanent):
    httpserver.expect_request("/x").respond_with_data("no", status=status)
    with pytest.raises(OutboundError) as caught:
        outbound.post(httpserver.url_for("/x"), b"{}")
    assert (caught.value.status, caught.value.permanent) == (status, permanent)


def test_redirects_are_not_followed(httpserver):
    httpserver.expect_request("/moved").respond_with_response(
        Response(status=307, headers={"Location": httpserver.url_for("/elsewhere")})
    )
    with pytest.raises(OutboundError, match="redirects are not followed") as caught:
        outbound.post(httpserver.url_for("/moved"), b"{}")
    assert caught.value.permanent
    assert [r.path for r, _ in httpserver.log] == ["/moved"]


def test_a_slow_server_times_out_as_a_temporary_failure(httpserver):
    def slow(request):
        time.sleep(0.5)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out") as caught:
        outbound.post(httpserver.url_for("/slow"), b"{}", timeout=0.15)
    assert time.monotonic() - started < 0.45
    assert not caught.value.permanent


def test_the_timeout_comes_from_the_setting(httpserver, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "OUTBOUND_TIMEOUT_SECONDS": 0.15}

    def slow(request):
        time.sleep(0.4)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(OutboundError, match=r"timed out after 0\.15s"):
        outbound.post(httpserver.url_for("/slow"), b"{}")


def test_a_refused_connection_is_a_temporary_failure():
    with pytest.raises(OutboundError, match="connection failed") as caught:
        outbound.post("http://127.0.0.1:9/nothing-listens", b"{}", timeout=1)
    assert not caught.value.permanent


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x",
                                 "http://", "/relative", ""])
def test_only_http_and_https_urls_are_called(url):
    with pytest.raises(OutboundError, match="only http and https") as caught:
        outbound.post(url, b"{}")
    assert caught.value.permanent


def test_a_header_value_no_header_could_carry_is_percent_encoded(httpserver):
    httpserver.expect_request("/h").respond_with_data("ok")
    value = "pay\r\nX-Injected: yes ☃ 100%"
    outbound.post(httpserver.url_for("/h"), b"{}", headers={"X-Key": value,
                                                            "X-Plain": "a:b/c 100%"})
    # (a slow handler of an earlier test may still log its request late)
    [request] = [r for r, _ in httpserver.log if r.path == "/h"]
    assert request.headers["X-Key"] == "pay%0D%0AX-Injected:%20yes%20%E2%98%83%20100%25"
    assert unquote(request.headers["X-Key"]) == value
    assert request.headers["X-Plain"] == "a:b/c 100%"  # printable ASCII goes as it is
    assert "X-Injected" not in request.headers


@pytest.mark.parametrize("name", ["X Bad", "X-Bad\r\nX-Evil", "", "Ünicode"])
def test_a_header_name_that_is_not_a_token_is_refused(name):
    with pytest.raises(OutboundError, match="not a header name") as caught:
        outbound.post("http://127.0.0.1:9/", b"{}", headers={name: "1"})
    assert caught.value.permanent


def test_json_bodies_keep_utf8_and_survive_a_lone_surrogate():
    assert outbound.json_bytes({"op": "café"}) == '{"op":"café"}'.encode()
    body = outbound.json_bytes({"op": "café \ud800"})
    assert body == b'{"op":"caf\\u00e9 \\ud800"}'
    assert json.loads(body) == {"op": "café \ud800"}
