"""Warnings for operators: the banner on the admin home and the dashboard.

Each check answers "is something wrong that nobody may have noticed?" with one cheap read
(an index or a small table: the banner renders on every admin home) and, when it is, says
what and links to the admin page that fixes it. Resilience checks its own state here
(digestion lag, open circuits); an app above it adds its checks with
`warning_check_register` from its AppConfig.ready (alerts: no channel enabled, CRITICAL
alerts undelivered), since resilience never imports those apps.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse
from django.utils import timezone

from resilience import conf
from resilience.digest.selectors import oldest_pending_received_at
from resilience.models import CircuitState
from resilience.observability.dashboard import OPEN_CIRCUIT_STATES

log = logging.getLogger("faultline.warnings")
CIRCUITS_NAMED = 3  # the banner names a few open circuits; the link lists them all


@dataclass(frozen=True)
class OperatorWarning:
    key: str  # a stable name: the banner's data-warning attribute
    text: str  # what is wrong, in a sentence
    link_text: str
    url: str  # the admin page that fixes it
    permission: str  # needed to open that page; without it the text is shown alone


WarningCheck = Callable[[datetime], OperatorWarning | None]
_CHECKS: dict[str, WarningCheck] = {}


def warning_check_register(name: str, check: WarningCheck) -> None:
    """Add a check to the banner (registering a name again replaces it)."""
    _CHECKS[name] = check


def operator_warnings(
    *, user: AbstractBaseUser | AnonymousUser, now: datetime | None = None
) -> list[OperatorWarning]:
    """What is wrong now, in registration order; links the user may not open are left out."""
    now = now or timezone.now()
    found = []
    for name, check in list(_CHECKS.items()):
        try:
            warning = check(now)
        except Exception:  # one failing check must not hide the admin home
            log.exception("warning check %s failed", name)
            continue
        if warning is None:
            continue
        if not user.has_perm(warning.permission):
            warning = replace(warning, url="")
        found.append(warning)
    return found


def open_circuits_url() -> str:
    """The circuit list filtered to the circuits counted as open (the dashboard's figure)."""
    query = urlencode({"state__in": ",".join(OPEN_CIRCUIT_STATES)})
    return f"{reverse('admin:resilience_circuitstate_changelist')}?{query}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def digest_lag_warning(now: datetime) -> OperatorWarning | None:
    # The alert's threshold: the banner speaks up when the lag alert would fire.
    limit = conf.get("ALERT_DIGEST_LAG_SECONDS")
    oldest = oldest_pending_received_at()
    lag = (now - oldest).total_seconds() if oldest else 0.0
    if lag < limit:
        return None
    return OperatorWarning(
        key="digest_lag",
        text=(f"Digestion lags: the oldest report waiting to be digested arrived "
              f"{_duration(lag)} ago (the limit is {limit} s). Reports are stored but not "
              "grouped, counted or alerted on until a Celery worker consumes the digest "
              "queue."),
        link_text="Digestion status",
        url=f"{reverse('admin-dashboard')}#fl-digest-lag",
        permission="resilience.view_errormetric",
    )


def open_circuits_warning(now: datetime) -> OperatorWarning | None:
    circuits = CircuitState.objects.filter(state__in=OPEN_CIRCUIT_STATES)
    count = circuits.count()
    if not count:
        return None
    names = list(circuits.order_by("operation").values_list("operation", flat=True)
                 [:CIRCUITS_NAMED])
    listed = ", ".join(names) + (", …" if count > len(names) else "")
    return OperatorWarning(
        key="open_circuits",
        text=(f"{count} circuit{' is' if count == 1 else 's are'} open ({listed}): calls "
              "to those operations are refused or take their fallback."),
        link_text="Open circuits",
        url=open_circuits_url(),
        permission="resilience.view_circuitstate",
    )


warning_check_register("resilience.digest_lag", digest_lag_warning)
warning_check_register("resilience.open_circuits", open_circuits_warning)
