"""bench/sentry_requests.py's requests are what the endpoints accept: each kind, through
Django's WSGI handler, stored (the bench refuses to count a request that was not)."""

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from bench.sentry_requests import KINDS, Requests, run_all
from resilience.models import ErrorLogEntry


@pytest.fixture(autouse=True)
def test_connection_kept():
    """As Django's test client does: a request must not close the test's connection (and
    its transaction) when it starts and ends."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_every_kind_is_accepted_and_stored_with_fresh_event_ids():
    app = get_wsgi_application()
    requests = Requests()
    for kind in KINDS:
        run_all(app, requests.make(kind, 2))
        run_all(app, requests.make(kind, 2))  # a second pass: new ids, not resends
    assert ErrorLogEntry.objects.count() == 4 * len(KINDS)
    assert ErrorLogEntry.objects.filter(source="sentry").count() == 4 * (len(KINDS) - 1)


@pytest.mark.django_db
def test_a_refused_request_stops_the_run():
    app = get_wsgi_application()
    environs = Requests().make("envelope5k", 1)
    environs[0]["HTTP_X_SENTRY_AUTH"] = "Sentry sentry_key=0123456789abcdef0123456789abcdef"
    with pytest.raises(SystemExit, match="answered 403"):
        run_all(app, environs)
