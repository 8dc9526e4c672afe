"""Idle circuits expire, so every operation name a service ever sent does not stay forever.

Idle means: CLOSED, unchanged (no transition) for CIRCUIT_IDLE_EXPIRE_SECONDS, no failure
counted in its window, no operator settings, not shared (forced circuits are never CLOSED,
so never idle). With Redis, also unused for that long: every call renews the state key's
TTL, so a key that still exists belongs to a circuit in use, and the check and the delete of
the keys are one script (`RedisCircuitStore.expire_if_idle`). The rows go in batches of
CIRCUIT_EXPIRE_BATCH_SIZE, one transaction each (rows locked SKIP LOCKED, so a transition
being mirrored is never deleted under it), with their transitions; audit events stay.

A circuit that is used again after it expired starts afresh, CLOSED, as a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from resilience import conf
from resilience.circuits.redis_breaker import RedisCircuitStore
from resilience.circuits.services import SETTINGS_FIELDS, CircuitRef, config_of
from resilience.models import CircuitState

logger = logging.getLogger("resilience.circuits")

MAX_BATCHES_PER_RUN = 100
IDS_KEPT = 100  # ids listed in a result (the count is complete)


@dataclass
class ExpiryResult:
    deleted: int = 0
    still_used: int = 0  # candidates whose Redis key or failures say they are in use
    batches: int = 0
    stopped: str = ""  # why the run ended early, if it did
    deleted_ids: list[int] = field(default_factory=list)


def _idle_candidates(cutoff: datetime):
    unset = {f"{name}__isnull": True for name in SETTINGS_FIELDS}
    return CircuitState.objects.filter(
        state=CircuitState.State.CLOSED, changed_at__lt=cutoff, shared=False, **unset
    )


def _counting_on_row(row: CircuitState, now_ms: int) -> bool:
    """Failures kept on the row (the database backend) that are still in the window."""
    window = config_of(row).window_ms
    return any(int(t) > now_ms - window for t in (row.live_state or {}).get("failures", []))


def circuits_expire_idle(*, now: datetime | None = None, batch_size: int | None = None,
                         max_batches: int = MAX_BATCHES_PER_RUN) -> ExpiryResult:
    """Delete idle circuits, at most `max_batches` batches of `batch_size` rows per run."""
    result = ExpiryResult()
    idle_seconds = conf.get("CIRCUIT_IDLE_EXPIRE_SECONDS")
    if not idle_seconds:
        result.stopped = "CIRCUIT_IDLE_EXPIRE_SECONDS is 0: circuits never expire"
        return result
    now = now or timezone.now()
    now_ms = int(now.timestamp() * 1000)
    batch_size = batch_size or conf.get("CIRCUIT_EXPIRE_BATCH_SIZE")
    candidates = _idle_candidates(now - timedelta(seconds=idle_seconds))
    store = (RedisCircuitStore(settings.REDIS_URL, conf.get("CIRCUIT_KEY_PREFIX"))
             if settings.REDIS_URL else None)
    after = 0
    for _ in range(max_batches):
        try:
            with transaction.atomic():
                rows = list(candidates.filter(id__gt=after).order_by("id")
                            .select_for_update(skip_locked=True)[:batch_size])
                if not rows:
                    return result
                after = rows[-1].pk
                idle = []
                for row in rows:
                    if _counting_on_row(row, now_ms) or (
                        store is not None and not store.expire_if_idle(CircuitRef.of(row).name)
                    ):
                        result.still_used += 1
                    else:
                        idle.append(row.pk)
                CircuitState.objects.filter(pk__in=idle).delete()
        except redis.RedisError as exc:
            # Without Redis we cannot tell a busy circuit from an idle one: next run.
            result.stopped = f"Redis unreachable: {exc}"
            logger.warning("circuit expiry stopped: %s", result.stopped)
            return result
        result.batches += 1
        result.deleted += len(idle)
        result.deleted_ids.extend(idle[:max(0, IDS_KEPT - len(result.deleted_ids))])
        if len(rows) < batch_size:
            return result
    result.stopped = f"{max_batches} batches done; the rest at the next run"
    return result
