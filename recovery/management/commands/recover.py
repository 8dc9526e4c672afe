"""Run recovery and clean-up procedures now, in this process, each recorded as a
RecoveryRun.

    manage.py recover --list
    manage.py recover                       # every recovery procedure (what beat runs)

Each procedure's line, then the summary (the seed's summarizeRecoveryResults) as JSON:
    summary {"failed": 0, "skipped": 2, "success": true, "successful": 10, ...}
    manage.py recover --cleanup             # every clean-up procedure
    manage.py recover timers.reclaim_stuck outbox.republish
"""

import json

from django.core.management.base import BaseCommand, CommandError

from recovery.registry import CLEANUP, PROCEDURES, RECOVERY, in_group, ordered
from recovery.services import recovery_perform


class Command(BaseCommand):
    help = "Run recovery/clean-up procedures now (each recorded as a RecoveryRun)."

    def add_arguments(self, parser):
        parser.add_argument("procedures", nargs="*", help="names (see --list)")
        parser.add_argument("--list", dest="show_list", action="store_true",
                            help="list the procedures")
        parser.add_argument("--cleanup", action="store_true",
                            help="run every clean-up procedure")

    def handle(self, *args, procedures: list[str], show_list: bool, cleanup: bool, **options):
        if show_list:
            for proc in ordered():
                self.stdout.write(f"{proc.name:32} {proc.group:9} {proc.description}")
            return
        unknown = [name for name in procedures if name not in PROCEDURES]
        if unknown:
            raise CommandError(f"unknown procedure(s): {', '.join(unknown)} (see --list)")
        names = procedures or [p.name for p in in_group(CLEANUP if cleanup else RECOVERY)]
        performed = recovery_perform(names=names, via="command")
        for run in performed.runs:
            changed = json.dumps(run.changed, sort_keys=True, default=str)
            line = f"{run.procedure:32} {run.outcome:9} {run.duration_seconds:7.2f}s  {changed}"
            if run.error:
                line += f"\n    {run.error.splitlines()[0]}"
            self.stdout.write(line)
        self.stdout.write(f"summary {json.dumps(performed.summary, sort_keys=True)}")
        if performed.summary["failed"]:
            raise CommandError(f"{performed.summary['failed']} procedure(s) failed")
