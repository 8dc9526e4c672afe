"""/healthz answers while the process lives; /readyz checks what the service depends on."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from tests import factories


def test_healthz_answers_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_digestion_lag(db, settings):
    settings.CELERY_BROKER_URL = "memory://"
    factories.ErrorLogEntryFactory(received_at=timezone.now() - timedelta(minutes=3))
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["digest_lag_seconds"] >= 180


def test_readyz_fails_and_says_why_when_redis_is_down(db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failures"][0].startswith("redis:")
