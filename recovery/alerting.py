"""Raising an operational alert when a dependency stays down after a reconnect attempt.

Always logged CRITICAL on `faultline.recovery` (what the log shipper pages on); also handed
to the alerts app when it offers an operational alert function.
"""

from __future__ import annotations

import logging

log = logging.getLogger("faultline.recovery")


def operational_alert(*, title: str, detail: str, source: str) -> bool:
    """Log CRITICAL and raise an alert through alerts/, if it can. True when alerts took it."""
    log.critical("%s: %s", title, detail)
    try:
        raise_alert = _alerts_hook()
    except ImportError:
        return False
    if raise_alert is None:
        return False
    try:
        raise_alert(title=title, detail=detail, source=source)
    except Exception:
        log.exception("the alerts app could not raise %r", title)
        return False
    return True


def _alerts_hook():
    """The alerts app's operational-alert function, or None while it has none."""
    from alerts import hooks

    return getattr(hooks, "operational_alert", None)
