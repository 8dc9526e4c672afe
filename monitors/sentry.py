"""The Sentry endpoint's `check_in` items (registered in MonitorsConfig.ready)."""

from monitors.services import check_in_record
from resilience.sentry.items import SideItem


def check_in_item(side: SideItem) -> bool:
    """Record the check-in; a malformed one raises ValueError and is dropped and counted."""
    check_in_record(service_id=side.service_id, payload=side.json(), now=side.now)
    return True
