"""Liveness and readiness probes: quick, and saying exactly what failed, to those who may know.

/readyz's failure texts name internal hosts and ports (a Redis URL's address, a broker's
error), so an anonymous caller gets only "ok"/"fail" per check; the details go to the
metrics scraper (probe_access.may_scrape: METRICS_TOKEN or METRICS_ALLOWED_IPS) and to
logged-in staff.
"""

import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from resilience import conf
from resilience.digest.selectors import oldest_pending_received_at
from resilience.ingest.spool import SpoolStats, spool_enabled, spool_status
from resilience.observability.probe_access import may_scrape


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"database: {exc.__class__.__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"redis: {exc}"
    return None


def check_broker() -> str | None:
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except Exception as exc:  # noqa: BLE001
        return f"broker: {exc.__class__.__name__}: {exc}"
    return None


def _check_digest_lag() -> tuple[str | None, float | None]:
    """Digestion keeps up: the oldest undigested entry is younger than the threshold."""
    try:
        oldest = oldest_pending_received_at()
    except Exception as exc:  # noqa: BLE001
        return f"digest: {exc.__class__.__name__}: {exc}", None
    lag = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    limit = getattr(settings, "READYZ_MAX_DIGEST_LAG_SECONDS", 300)
    if limit and lag > limit:
        return f"digest: lag {lag:.0f}s over READYZ_MAX_DIGEST_LAG_SECONDS={limit}", lag
    return None, lag


# Past this share of SPOOL_MAX_BYTES the process is not ready: it would soon refuse reports.
SPOOL_READY_SHARE = 0.9


def _check_spool() -> tuple[str | None, SpoolStats | None]:
    if not spool_enabled():
        return None, None
    stats = spool_status()
    limit = conf.get("SPOOL_MAX_BYTES")
    if stats.bytes >= limit * SPOOL_READY_SHARE:
        return (f"spool: {stats.bytes} of {limit} bytes used (SPOOL_MAX_BYTES); reports are "
                f"refused with a 503 once it is full"), stats
    return None, stats


@require_GET
def readyz(request):
    checks = {"database": check_database(), "redis": _check_redis(), "broker": check_broker()}
    lag_seconds = None
    if checks["database"] is None:
        checks["digest"], lag_seconds = _check_digest_lag()
    checks["spool"], spool = _check_spool()
    # Database down but the spool taking reports: still ready (ingest answers, the spool is
    # written back when the database returns), "degraded"; taking the process out of the
    # load balancer would turn a database blip into lost reports.
    degraded = checks["database"] is not None and spool is not None and not checks["spool"]
    failures = [f for name, f in checks.items() if f and not (degraded and name == "database")]
    status = 503 if failures else 200
    word = "fail" if failures else "degraded" if degraded else "ok"
    if not _may_see_details(request):
        return JsonResponse({
            "status": word,
            "checks": {name: "fail" if problem else "ok" for name, problem in checks.items()},
        }, status=status)
    body = {"status": word, "failures": failures,
            "checks": {name: problem or "ok" for name, problem in checks.items()},
            "digest_lag_seconds": lag_seconds,
            "spool_bytes": spool.bytes if spool else 0,
            "spool_age_seconds": round(spool.age_seconds(time.time()), 1) if spool else 0.0}
    # Where this process keeps circuit state: "database" means Redis is not configured or
    # was unreachable on the last try (the breakers still work, on the rows).
    from resilience.circuits.services import circuit_backend

    body["circuit_backend"] = circuit_backend()
    return JsonResponse(body, status=status)


def _may_see_details(request) -> bool:
    if may_scrape(request):
        return True
    try:  # the session lives in the database, which may be the very thing that is down
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_active and user.is_staff)
    except DatabaseError:
        return False
