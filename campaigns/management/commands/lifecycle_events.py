"""Print lifecycle events from the event bus (a Redis stream), and keep following it.

    manage.py lifecycle_events                 # everything still in the stream
    manage.py lifecycle_events --from 1764390000000-0 --follow
"""

import json
import re

import redis
from django.core.management.base import BaseCommand, CommandError

from campaigns import events

STREAM_ID = re.compile(r"^(\$|\d{1,20}(-\d{1,20})?)$")


class Command(BaseCommand):
    help = "Print lifecycle events from the event bus; --follow waits for new ones."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="after", default="0",
                            help="print events after this stream id (0 = from the start, "
                                 "$ = only new ones)")
        parser.add_argument("--follow", action="store_true",
                            help="keep waiting for new events (XREAD BLOCK); Ctrl-C stops")
        parser.add_argument("--stream", default="lifecycle", help="default: lifecycle")
        parser.add_argument("--limit", type=int, default=0,
                            help="stop after this many events (0 = no limit)")
        parser.add_argument("--block-ms", type=int, default=5000,
                            help="how long one XREAD waits with --follow")
        parser.add_argument("--json", dest="as_json", action="store_true",
                            help="one JSON object per line")

    def handle(self, *args, after: str, follow: bool, stream: str, limit: int,
               block_ms: int, as_json: bool, **options):
        if not STREAM_ID.match(after):
            raise CommandError("--from takes a stream id such as 0, $ or 1764390000000-0")
        if after == "$" and not follow:
            return
        printed = 0
        try:
            while True:
                want = 100 if not limit else min(100, limit - printed)
                batch = events.events_read(stream=stream, after=after, count=want,
                                           block_ms=block_ms if follow else None)
                for event in batch:
                    self._print(event, as_json=as_json)
                    after = event.id
                    printed += 1
                if limit and printed >= limit:
                    return
                if not follow and len(batch) < want:
                    return
        except events.EventBusNotConfigured as exc:
            raise CommandError(f"{exc}; lifecycle events stay in the outbox "
                               "(admin: Campaigns → Outbox events)") from exc
        except redis.RedisError as exc:
            raise CommandError(f"the event bus is unreachable: {exc}") from exc
        except KeyboardInterrupt:
            return

    def _print(self, event: events.BusEvent, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(event.as_dict(), separators=(",", ":")))
        else:
            payload = json.dumps(event.payload, separators=(",", ":"), sort_keys=True)
            self.stdout.write(f"{event.id}  {event.topic}  event_id={event.event_id}  {payload}")
