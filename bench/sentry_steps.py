#!/usr/bin/env python
"""CPU per event of the steps a Sentry envelope takes before and inside ingest(), beside
a native report's: in-process, no server, no database.

Run by hand (`.venv/bin/python bench/sentry_steps.py`), never by the test suite. The
events are bench/_sentry.py's (as bench/ingest.py's envelope scenarios send them) and the
reports bench/_common.py's. Each step runs over the same events several times and the
fastest pass counts (`time.process_time`, so other load on the machine barely moves it):
steady state, as a running server sees it. The write itself (INSERT, commit) is left out;
the JSON columns' encoding, which it does, is in.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from _common import BodyMaker, report_templates  # noqa: E402
from _sentry import EnvelopeMaker, envelope_templates  # noqa: E402

from resilience.core import copy_text, safe_json  # noqa: E402
from resilience.core.report_schema import validate_body, validate_report  # noqa: E402
from resilience.core.scrubbing import DEFAULT_SCRUBBER  # noqa: E402
from resilience.sentry.decoding import decode_stream  # noqa: E402
from resilience.sentry.envelope import parse_json_object  # noqa: E402
from resilience.sentry.framing import EnvelopeStream  # noqa: E402
from resilience.sentry.mapping import map_event  # noqa: E402
from resilience.sentry.views import EVENT_ITEM_TYPES  # noqa: E402

JSON_COLUMNS = ("extra", "context", "cause", "payload", "fingerprint", "tags")


def timed(name: str, step, inputs: list, passes: int) -> tuple[list, float]:
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        out = [step(x) for x in inputs]
        best = min(best, time.process_time() - started)
    ms = best / len(inputs) * 1000
    print(f"  {name:<30} {ms:6.3f} ms")
    return out, ms


def event_payload(body: bytes) -> bytes:
    stream = EnvelopeStream(decode_stream([body], "gzip", max_decompressed=20_000_000))
    stream.header()
    items = stream.items(max_items=100, keep=lambda t: t in EVENT_ITEM_TYPES,
                         max_kept=1_000_000)
    return next(item.payload for item in items if item.type in EVENT_ITEM_TYPES)


def sentry_report(event: dict, now: datetime) -> dict:
    """What the envelope view makes of an event (views.py: map, validate, extra beside)."""
    mapped = map_event(event, parsed=True)
    report = validate_report(mapped.report, where="item", now=now, text_checked=True)
    report["extra"] = mapped.extra
    if mapped.severity_floor:
        report["severity_floor"] = mapped.severity_floor
    return report


def encoded(report: dict) -> None:
    for column in JSON_COLUMNS:
        copy_text.json_value(report.get(column))  # as the entry's COPY line writes them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    envelopes = EnvelopeMaker("steps", envelope_templates())
    bodies = [envelopes.next() for _ in range(args.events)]
    natives = BodyMaker("steps", 1, report_templates())
    native_bodies = [natives.next() for _ in range(args.events)]

    size = len(zlib.decompress(bodies[0], 31))
    print(f"Sentry envelope event ({size:,} B of envelope, {len(bodies[0]):,} B gzipped):")
    total = 0.0
    payloads, ms = timed("gunzip + framing", event_payload, bodies, args.passes)
    total += ms
    events, ms = timed("JSON (safe_json)", lambda p: parse_json_object(p, "item"), payloads,
                       args.passes)
    total += ms
    reports, ms = timed("map + validate", lambda e: sentry_report(e, now), events,
                        args.passes)
    total += ms
    scrubbed, ms = timed("scrub (default rules)", DEFAULT_SCRUBBER.report, reports, args.passes)
    total += ms
    _, ms = timed("JSON columns encoded", encoded, scrubbed, args.passes)
    total += ms
    print(f"  {'total':<30} {total:6.3f} ms")

    print(f"native report ({len(native_bodies[0]):,} B):")
    native_total = 0.0
    parsed, ms = timed("JSON (safe_json)", safe_json.loads, native_bodies, args.passes)
    native_total += ms
    clean, ms = timed("validate", lambda b: validate_body(b, max_batch=10, now=now)[0][0],
                      parsed, args.passes)
    native_total += ms
    scrubbed, ms = timed("scrub (default rules)", DEFAULT_SCRUBBER.report, clean, args.passes)
    native_total += ms
    _, ms = timed("JSON columns encoded", encoded, scrubbed, args.passes)
    native_total += ms
    print(f"  {'total':<30} {native_total:6.3f} ms")
    print(f"an envelope event's steps cost {total - native_total:.3f} ms more")


if __name__ == "__main__":
    main()
