"""Our CSP middleware sends exactly the headers django-csp's would, built once."""

import pytest
from csp.constants import NONCE
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpResponse
from django.template import engines
from django.test import RequestFactory, override_settings

from resilience.infra.csp_header import CSPMiddleware

REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/csp-report/"}}
WITH_NONCE = {"DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'", NONCE]}}


def _plain(request):
    return HttpResponse("ok")


def _with_nonce(request):
    page = engines["django"].from_string("<script nonce='{{ request.csp_nonce }}'></script>")
    return HttpResponse(page.render({"request": request}))


VIEWS = {
    "plain": _plain,
    "exempt": csp_exempt()(_plain),
    "updated": csp_update({"img-src": ["https://example.com"]})(_plain),
    "nonce": _with_nonce,
}


def _headers(middleware_class, view, path="/api/v1/errors/"):
    request = RequestFactory().get(path)
    middleware = middleware_class(view)
    middleware.process_request(request)
    response = middleware.process_response(request, view(request))
    return {name: response.get(name) for name in
            ("Content-Security-Policy", "Content-Security-Policy-Report-Only")}, response


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("policy_settings", [
    {},
    {"CONTENT_SECURITY_POLICY_REPORT_ONLY": REPORT_ONLY},
    {"CONTENT_SECURITY_POLICY": {"EXCLUDE_URL_PREFIXES": ["/api/"],
                                 "DIRECTIVES": {"default-src": ["'self'"]}}},
    {"CONTENT_SECURITY_POLICY": WITH_NONCE},
])
def test_the_same_headers_as_django_csp(view, policy_settings):
    with override_settings(**policy_settings):
        ours, _ = _headers(CSPMiddleware, VIEWS[view])
        theirs, _ = _headers(DjangoCSPMiddleware, VIEWS[view])
    if view == "nonce" and policy_settings.get("CONTENT_SECURITY_POLICY") == WITH_NONCE:
        # A nonce is new per response: the same policy around it.
        assert "'nonce-" in ours["Content-Security-Policy"]
        ours, theirs = ({k: v.split("'nonce-")[0] for k, v in h.items() if v}
                        for h in (ours, theirs))
    assert ours == theirs


def test_a_nonce_asked_for_after_the_header_is_written_is_refused():
    from csp.exceptions import CSPNonceError

    request = RequestFactory().get("/")
    middleware = CSPMiddleware(_plain)
    middleware.process_request(request)
    middleware.process_response(request, _plain(request))
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
