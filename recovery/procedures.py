"""The recovery procedures (the seed's AutoRecoveryManager), run every 5 minutes.

Each is registered by name and run by recovery/services.py, which records one RecoveryRun
per procedure. The work itself lives with its owner: dead-letter replay in
resilience/dead_letters/replay.py; these functions choose what to hand over and report what
changed. The campaign procedures (timers, overdue campaigns, the outbox) live in
campaigns/procedures.py and register themselves here: recovery never imports campaigns.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, Value
from django.db.models.functions import Concat

from recovery.alerting import operational_alert
from recovery.registry import RECOVERY, Result, ids, procedure
from resilience import conf
from resilience.models import DeadLetter, DeferredWrite, ReplayTarget

log = logging.getLogger(__name__)

# --- infrastructure ------------------------------------------------------------------------


def _check_twice(name: str, check, reconnect) -> Result:
    """Check; on failure reconnect and check again; still failing → alert, FAILED."""
    first = check()
    if first is None:
        return Result(changed={"status": "up"})
    reconnect()
    second = check()
    if second is None:
        return Result(changed={"status": "up", "reconnected": True, "first_error": first})
    operational_alert(title=f"{name} is down", detail=second, source=f"health.{name.lower()}")
    return Result("FAILED", {"status": "down", "first_error": first}, error=second)


@procedure("health.database", group=RECOVERY,
           description="Database answers a query (reconnects once if not).")
def check_database(now: datetime) -> Result:
    from resilience.observability import health

    return _check_twice("Database", health.check_database, _reconnect_database)


def _reconnect_database() -> None:
    # Drop the (possibly dead) connection; the next query opens a fresh one. Never inside
    # a transaction: closing would lose the caller's work (the runner holds none).
    if not connection.in_atomic_block:
        connection.close()


@procedure("health.redis", group=RECOVERY,
           description="Redis (cache, circuits, event bus) answers PING from a fresh client.")
def check_redis(now: datetime) -> Result:
    import redis

    urls = {u for u in (settings.REDIS_URL, getattr(settings, "EVENT_BUS_URL", "")) if u}
    if not urls:
        return Result("SKIPPED", {"reason": "no Redis configured (REDIS_URL, EVENT_BUS_URL)"})

    def check() -> str | None:
        problems = []
        for url in sorted(urls):
            # A fresh client every time: a pooled connection could hide a reconnect problem.
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            try:
                client.ping()
            except redis.RedisError as exc:
                problems.append(f"redis {_safe_url(url)}: {exc}")
            finally:
                client.close()
        return "; ".join(problems) or None

    return _check_twice("Redis", check, lambda: None)


def _safe_url(url: str) -> str:
    """Without a password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


@procedure("health.broker", group=RECOVERY,
           description="The Celery broker accepts a connection (ensure_connection, twice).")
def check_broker(now: datetime) -> Result:
    from resilience.observability import health

    return _check_twice("Broker", health.check_broker, lambda: None)


# --- dead letters, deferred writes ----------------------------------------------------


def _replayable(now: datetime):
    """TRANSIENT dead letters waiting (PENDING, or FAILED with its backoff over) whose
    target still allows automatic replays (replay_count < max_replays)."""
    target_allows = ReplayTarget.objects.filter(
        service_id=OuterRef("service_id"), operation=OuterRef("operation"), enabled=True,
        max_replays__gt=OuterRef("replay_count"),
    )
    return DeadLetter.objects.filter(
        Q(next_replay_at__isnull=True) | Q(next_replay_at__lte=now),
        category="TRANSIENT",
        status__in=[DeadLetter.Status.PENDING, DeadLetter.Status.FAILED],
    ).filter(Exists(target_allows))


@procedure("dead_letters.replay_transient", group=RECOVERY,
           description="TRANSIENT dead letters → replayed (backoff, limit), circuit closed only.")
def replay_transient_dead_letters(now: datetime) -> Result:
    from resilience.circuits.services import circuit_view
    from resilience.dead_letters.replay import dead_letter_replay_request

    waiting = _replayable(now)
    # Circuits belong to a service: each dead letter waits on its own service's circuit.
    pairs = sorted(set(waiting.values_list("service_id", "operation").distinct()))
    blocked = [(s, op) for s, op in pairs if circuit_view(operation=op, service_id=s).is_open]
    open_circuits = sorted({op for _, op in blocked})
    for service_id, operation in blocked:
        waiting = waiting.exclude(service_id=service_id, operation=operation)
    chosen = list(
        waiting.order_by("id")
        .values_list("id", flat=True)[:conf.get("RECOVERY_REPLAY_BATCH_SIZE")]
    )
    changed = {"queued": 0, "circuit_open": open_circuits}
    if not chosen:
        return Result("SKIPPED" if open_circuits else "SUCCEEDED", changed)
    # The replay service does the rest on the "replay" queue: claim, pace, send, record,
    # and on failure the automatic backoff (next_replay_at) and replay_count.
    request = dead_letter_replay_request(filters={"ids": chosen}, actor=None, via="system",
                                         now=now)
    return Result(changed={**changed, "queued": request.queued, **ids(chosen)})


@procedure("deferred_writes.report", group=RECOVERY,
           description="Deferred writes (database.write fallback): count and age; old ones "
                       "marked FAILED. Nothing is applied: there is no generic way to.")
def report_deferred_writes(now: datetime) -> Result:
    pending = DeferredWrite.objects.filter(status=DeferredWrite.Status.PENDING)
    cut = now - timedelta(days=conf.get("RECOVERY_DEFERRED_WRITE_EXPIRE_DAYS"))
    with transaction.atomic():
        expired = list(pending.filter(created_at__lt=cut).select_for_update()
                       .values_list("id", flat=True))
        DeferredWrite.objects.filter(id__in=expired).update(
            status=DeferredWrite.Status.FAILED, processed_at=now,
            error=Concat(Value("[expired: never applied] "), "error"),
        )
    summary = pending.aggregate(count=Count("id"), oldest=Min("created_at"))
    by_operation = dict(
        pending.values_list("operation").annotate(n=Count("id")).order_by("-n")[:20]
    )
    oldest = summary["oldest"]
    if summary["count"]:
        log.warning("%s deferred writes are waiting (oldest %s); they need an operator",
                    summary["count"], oldest)
    return Result(changed={
        "pending": summary["count"],
        "oldest_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "by_operation": by_operation,
        "expired": len(expired), **ids(expired, "expired_ids"),
    })
