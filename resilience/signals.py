"""What resilience announces once it has happened, for the apps built on it to act on.

resilience never imports those apps (alerts, recovery, campaigns build on it, not the
reverse): it sends these signals and whoever cares connects a receiver in its
AppConfig.ready (alerts/apps.py). Each is sent after the sender's transaction commits
(transaction.on_commit), so a receiver never hears of work that was rolled back, and
through `announce()`, so a failing receiver is logged and never breaks the sender.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

log = logging.getLogger("faultline.signals")

# A digest batch committed: `result` is its resilience.digest.service.DigestResult.
digest_committed = Signal()
# A circuit went OPEN: `operation`, `circuit_id` (the CircuitState row, or None).
circuit_opened = Signal()
# A dead letter was created: `dead_letter_id`.
dead_letter_created = Signal()
# An entry's FALLBACK decision was reported FAILED: `entry_id`.
fallback_failed = Signal()
# A cron monitor's run failed, was missed or timed out (monitors/services.py; resilience
# declares it so that alerts hears of it without importing monitors): `monitor_id`,
# `service_id`, `slug`, `status` ("error", "missed" or "timeout"), `environment`,
# `detail`, `at` (ISO 8601), `check_in_id` (the CheckIn row).
monitor_failed = Signal()


def announce(signal: Signal, *, sender: type | None = None, **kwargs: Any) -> None:
    """Send `signal` to every receiver; one that raises is logged, the others still run."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            log.error("receiver %r failed", getattr(receiver, "__qualname__", receiver),
                      exc_info=result)
