"""A one-view Django site instrumented by sentry_sdk's Django integration, run as a script
by tests/sentry/test_scrubbing_sdk.py: `python django_site.py <dsn>`.

It runs in a process of its own because the integration patches Django for good, which
the test process (serving Faultline itself) must not be. A checkout form is posted with
an Authorization header, cookies and a card number; the view fails, the SDK sends the
event with send_default_pii=True and its own scrubber emptied, as an SDK that scrubs
nothing would (older SDKs, @sentry/node with sendDefaultPii). Prints the event id.
"""

import io
import sys
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import sentry_sdk
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import path
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import EventScrubber

CARD = "4111 1111 1111 1111"


def checkout(request):
    raise RuntimeError("payment gateway declined the charge")


urlpatterns = [path("checkout/", checkout)]


def post_checkout() -> str:
    """One request through Django's WSGI handler, as a server would make it (the SDK
    reads headers and the query string there, the form body in the view's request)."""
    body = urlencode({"card_number": CARD, "name": "Ada Lovelace", "password": "hunter2"})
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/checkout/",
        "QUERY_STRING": "step=2&token=query-secret",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body.encode()),
        "HTTP_AUTHORIZATION": "Bearer s3cr3t-t0ken-value",
        "HTTP_COOKIE": "sessionid=abc123; theme=dark",
    }
    setup_testing_defaults(environ)
    statuses = []
    response = get_wsgi_application()(environ, lambda status, headers, *exc: statuses.append(
        status))
    b"".join(response)
    return statuses[0]


def main(dsn: str) -> None:
    sent: list[str] = []

    def remember(event, hint):
        sent.append(event["event_id"])
        return event

    settings.configure(
        DEBUG=False, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="test-only",
        INSTALLED_APPS=[], MIDDLEWARE=[], DATABASES={}, LOGGING_CONFIG=None,
    )
    sentry_sdk.init(
        dsn=dsn, integrations=[DjangoIntegration()], default_integrations=False,
        auto_enabling_integrations=False, auto_session_tracking=False,
        send_client_reports=False, send_default_pii=True,
        event_scrubber=EventScrubber(denylist=[], send_default_pii=True),
        before_send=remember,
    )
    status = post_checkout()
    assert status.startswith("500"), status
    sentry_sdk.flush(timeout=10)
    assert len(sent) == 1, sent
    print(sent[0])


if __name__ == "__main__":
    main(sys.argv[1])
