"""The DSN: built in one place, shown in the admin and by `make run`, and it works."""

from io import StringIO

from django.core.management import call_command
from django.test import Client

from resilience.ingest.keys import service_key_dsn
from resilience.models import ServiceKey
from tests import factories
from tests.sentry.envelopes import envelope, exception_event


def test_the_dsn_is_the_public_key_at_the_external_url_and_the_service_id(service, settings):
    key = factories.service_key(service)[0]
    settings.EXTERNAL_URL = "https://errors.example.com"
    assert service_key_dsn(key) == f"https://{key.public_key}@errors.example.com/{service.pk}"
    settings.EXTERNAL_URL = "http://10.0.0.5:8000/faultline/"
    assert service_key_dsn(key) == f"http://{key.public_key}@10.0.0.5:8000/faultline/{service.pk}"


def test_the_admin_shows_the_dsn_on_the_service_and_the_key(admin_client, service):
    key = factories.service_key(service)[0]
    dsn = service_key_dsn(key)
    service_page = admin_client.get(f"/admin/resilience/service/{service.pk}/change/")
    key_page = admin_client.get(f"/admin/resilience/servicekey/{key.pk}/change/")
    assert dsn in service_page.content.decode()
    assert dsn in key_page.content.decode()


def test_make_run_prints_the_demo_dsn_and_it_accepts_events(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("demo_setup", stdout=out)
    key = ServiceKey.objects.get()
    dsn = service_key_dsn(key)
    assert f"DSN:       {dsn}" in out.getvalue()

    auth = f"Sentry sentry_version=7, sentry_key={dsn.split('//', 1)[1].split('@', 1)[0]}"
    project = dsn.rsplit("/", 1)[1]
    response = Client().post(f"/api/{project}/envelope/",
                             data=envelope(("event", exception_event())),
                             content_type="application/x-sentry-envelope",
                             HTTP_X_SENTRY_AUTH=auth)
    assert response.status_code == 200
