"""The monitors' part of the daily clean-up (registered with recovery, as campaigns does)."""

from datetime import datetime

from monitors.models import CheckIn
from recovery.cleanup import delete_in_batches, retention_cut
from recovery.registry import CLEANUP, Result, procedure


@procedure("cleanup.check_ins", group=CLEANUP,
           description="Cron monitor check-ins older than RETENTION_ENTRIES_DAYS.")
def cleanup_check_ins(now: datetime) -> Result:
    # The monitor keeps its status, last check-in and next run; only the history goes.
    cut = retention_cut(now, "RETENTION_ENTRIES_DAYS")
    old = CheckIn.objects.filter(received_at__lt=cut)
    return Result(changed=delete_in_batches(old, order_by="received_at").as_changed(
        before=cut.isoformat()))
