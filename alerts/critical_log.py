"""The last resort: CRITICAL alerts that no channel delivered, as JSON lines in a file
(FAULTLINE ALERT_CRITICAL_LOG_PATH), for a log shipper or an operator's `tail -f`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from django.conf import settings

from resilience import conf

log = logging.getLogger("faultline.alerts")


def critical_log_path() -> Path:
    path = Path(conf.get("ALERT_CRITICAL_LOG_PATH"))
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def critical_log_write(record: dict[str, Any]) -> None:
    """Append one line. One write() of one line in O_APPEND mode: concurrent workers'
    lines do not interleave. Never raises (it is called when everything else failed)."""
    line = json.dumps(record, ensure_ascii=False, default=str, sort_keys=True) + "\n"
    try:
        path = critical_log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        log.critical("could not write the critical alert log: %r; alert: %s", exc, line.strip())
    log.critical("undelivered CRITICAL alert: %s", line.strip())
