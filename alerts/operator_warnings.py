"""The alerting half of the operators' banner (resilience/observability/operator_warnings.py):
alerts that reach nobody. Registered from AlertsConfig.ready; each check is one read of a
small table or an index."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse

from alerts.models import Alert, Channel
from resilience.observability.operator_warnings import OperatorWarning

UNDELIVERED_WINDOW = timedelta(hours=24)
UNDELIVERED_RANGE = "24h"  # the alert list's time-range filter value for that window
# "Logged only" (a rule with no channel) reached nobody either.
NOT_DELIVERED = (Alert.Status.UNDELIVERED, Alert.Status.LOGGED)


def no_channel_warning(now: datetime) -> OperatorWarning | None:
    if Channel.objects.filter(enabled=True).exists():
        return None
    return OperatorWarning(
        key="no_channel",
        text=("No alert channel is enabled: alerts, CRITICAL ones included, are recorded "
              "here but sent to nobody."),
        link_text="Enable a channel",
        url=reverse("admin:alerts_channel_changelist"),
        permission="alerts.view_channel",
    )


def critical_undelivered_url() -> str:
    query = urlencode({"level__exact": "CRITICAL", "status__in": ",".join(NOT_DELIVERED),
                       "range": UNDELIVERED_RANGE})
    return f"{reverse('admin:alerts_alert_changelist')}?{query}"


def critical_undelivered_warning(now: datetime) -> OperatorWarning | None:
    count = Alert.objects.filter(level="CRITICAL", status__in=NOT_DELIVERED,
                                 created_at__gte=now - UNDELIVERED_WINDOW).count()
    if not count:
        return None
    return OperatorWarning(
        key="critical_undelivered",
        text=(f"{count} CRITICAL alert{' was' if count == 1 else 's were'} not delivered "
              "in the last 24 hours."),
        link_text="Undelivered CRITICAL alerts",
        url=critical_undelivered_url(),
        permission="alerts.view_alert",
    )
