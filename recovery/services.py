"""Running recovery and clean-up procedures, each recorded as one RecoveryRun.

A procedure that raises is recorded FAILED with the error and the next one still runs;
one procedure never runs twice at once (a PostgreSQL advisory lock per name, so a slow
clean-up and the next day's run, or beat and an operator's "Run now", do not overlap).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from recovery import cleanup, procedures  # noqa: F401 - registers the procedures
from recovery.models import RecoveryRun
from recovery.registry import PROCEDURES, RECOVERY, Result, in_group, summarize

log = logging.getLogger("faultline.recovery")

RUN_PERMISSION = "recovery.run_recovery"
# Sent by name (recovery/tasks.py registers it under this name): tasks import this module,
# never the reverse.
RUN_NOW_TASK = "recovery.tasks.procedure_run_now"
_ERROR_MAX = 4000


class UnknownProcedure(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown procedure {name!r}; known: {', '.join(PROCEDURES)}")


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[bool]:
    """True when this process may run the procedure now (nobody else is running it)."""
    if connection.vendor != "postgresql":
        yield True  # SQLite: one worker (see docs), nothing to race with
        return
    key = zlib.crc32(f"faultline.recovery.{name}".encode())
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = cursor.fetchone()[0]
    except Exception:  # noqa: BLE001 - the database is unreachable: nothing to race with,
        # and health.database must still run (to reconnect and raise the alert).
        yield True
        return
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def procedure_run(name: str, *, via: str = "beat", actor=None) -> RecoveryRun | None:
    """Run one procedure and record it. None only when the run could not be recorded
    (the database is down: that is logged CRITICAL)."""
    proc = PROCEDURES.get(name)
    if proc is None:
        raise UnknownProcedure(name)
    started = timezone.now()
    try:
        with _exclusive(name) as acquired:
            if acquired:
                result = proc.func(started)
            else:
                result = Result("SKIPPED", {"reason": "already running in another process"})
    except Exception as exc:
        log.exception("recovery procedure %s failed", name)
        trace = "".join(traceback.format_exception(exc, limit=-8))
        result = Result("FAILED", error=f"{type(exc).__name__}: {exc}\n\n{trace}")
    finished = timezone.now()
    if result.outcome == "FAILED":
        log.error("recovery procedure %s: FAILED: %s", name, result.error.splitlines()[0]
                  if result.error else "")
    try:
        return RecoveryRun.objects.create(
            procedure=name, started_at=started, finished_at=finished, outcome=result.outcome,
            changed=result.changed, error=result.error[:_ERROR_MAX], via=via, actor=actor,
        )
    except Exception:
        log.critical("could not record recovery run %s (%s): %s", name, result.outcome,
                     result.error or result.changed, exc_info=True)
        return None


@dataclass
class Performed:
    runs: list[RecoveryRun]  # the recorded ones
    summary: dict[str, Any]  # the seed's {successful, failed, total, success, timestamp}


def recovery_perform(*, names: Iterable[str] | None = None, group: str = RECOVERY,
                     via: str = "beat", actor=None) -> Performed:
    """The seed's performAutoRecovery: run the procedures (`names`, else every one of
    `group`), one after the other, each recorded, and summarize them."""
    names = list(names) if names is not None else [p.name for p in in_group(group)]
    runs, outcomes = [], []
    for name in names:
        run = procedure_run(name, via=via, actor=actor)
        outcomes.append(run.outcome if run is not None else "UNRECORDED")
        if run is not None:
            runs.append(run)
    summary = summarize(outcomes, timestamp=timezone.now())
    log.log(logging.INFO if summary["success"] else logging.ERROR,
            "recovery procedures completed: %s", summary)
    return Performed(runs, summary)


def procedures_run(names: Iterable[str], *, via: str = "beat", actor=None) -> list[RecoveryRun]:
    return recovery_perform(names=names, via=via, actor=actor).runs


def group_run(group: str, *, via: str = "beat") -> list[RecoveryRun]:
    return recovery_perform(group=group, via=via).runs


def procedure_run_request(*, name: str, actor, via: str = "admin") -> None:
    """An operator's "Run now": checked, audited, queued on the maintenance queue."""
    from resilience.models import AuditEvent
    from resilience.outbound import calls as outbound

    if actor is not None and not actor.has_perm(RUN_PERMISSION):
        raise PermissionDenied("needs the 'run recovery' permission")
    if name not in PROCEDURES:
        raise UnknownProcedure(name)
    AuditEvent.objects.create(action="recovery.run_now", actor=actor, via=via,
                              target_type="recovery_procedure", target_id=name)
    outbound.send_task(RUN_NOW_TASK, kwargs={"name": name, "via": via,
                                             "actor_id": getattr(actor, "pk", None)})
