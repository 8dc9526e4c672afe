"""/readyz says which dependency failed, and fails when digestion lags too far."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from tests import factories


def test_everything_ok_is_200_with_each_check_named(db, settings):
    settings.CELERY_BROKER_URL = "memory://"
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["digest"] == "ok"


def test_a_lag_over_the_threshold_fails_and_says_so(db, settings):
    settings.CELERY_BROKER_URL = "memory://"
    settings.READYZ_MAX_DIGEST_LAG_SECONDS = 60
    factories.ErrorLogEntryFactory(received_at=timezone.now() - timedelta(minutes=5))
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["digest"].startswith("digest: lag")
    assert "READYZ_MAX_DIGEST_LAG_SECONDS=60" in body["failures"][0]
    assert body["digest_lag_seconds"] >= 300


def test_redis_down_fails_quickly_and_names_redis(db, settings):
    import time

    settings.CELERY_BROKER_URL = "memory://"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("redis:")
    assert response.json()["checks"]["database"] == "ok"
