#!/usr/bin/env python
"""CPU per report of a batch of 1,000 through POST /api/v1/errors/, step by step and
whole, in-process: what the batch1000 scenarios of bench/ingest.py cost the server.

Run by hand (`.venv/bin/python bench/batch_steps.py --database-url …`), never by the test
suite. It drops and recreates its own database (default faultline_bench_batch_steps),
migrates it and creates a service key with no rate limit, then:

- times each step ingest() takes, on the bodies bench/ingest.py sends (bench/_common.py's
  realistic reports, 1,000 a body, unique event ids), with the functions ingest() calls;
- times the whole view (`report_errors` through Django's RequestFactory: the budget, the
  body, validation, ingest with its Redis circuit calls and the committed COPY, the
  answer). Only this process's CPU counts: PostgreSQL's and Redis's are not in it.

Each figure is the fastest of `--passes` passes (`time.process_time`, so other load on the
machine barely moves it), per report.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BodyMaker, production_env, recreate_database, report_templates

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/faultline_bench_batch_steps"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=DEFAULT_DB,
                   help="dropped and recreated (default %(default)s)")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--bodies", type=int, default=4, help="bodies of --batch reports per pass")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--passes", type=int, default=5)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also print cProfile's top N functions of the whole view")
    return p.parse_args(argv)


def setup(args) -> str:
    """Django on the recreated database, migrated; returns a raw service key."""
    recreate_database(args.database_url)
    os.environ.update(production_env(
        database_url=args.database_url, redis_url=args.redis_url,
        var_dir="faultline-bench-var-batch-steps",
        DJANGO_SETTINGS_MODULE="bench.reference_settings", LOG_LEVEL="WARNING",
        FAULTLINE_INGEST_GROUP_COMMIT="true",
    ))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from resilience.ingest.keys import service_key_create
    from resilience.models import Service

    service = Service.objects.create(name="bench", slug="bench")
    return service_key_create(service=service, label="bench", rate_limit_per_minute=0)[1]


def timed(name: str, step, inputs: list, passes: int, reports: int) -> tuple[list, float]:
    """`step` over every input, the fastest of `passes`; prints ms per report."""
    best = float("inf")
    out: list = []
    for _ in range(passes):
        started = time.process_time()
        out = [step(x) for x in inputs]
        best = min(best, time.process_time() - started)
    ms = best / reports * 1000
    print(f"  {name:<34} {ms:7.4f} ms")
    return out, ms


def main(argv=None) -> int:
    args = parse_args(argv)
    raw_key = setup(args)

    from django.test import RequestFactory

    from resilience import conf
    from resilience.api.entries import answers_json, report_errors
    from resilience.circuits.lookup import NO_CIRCUIT, CircuitReading
    from resilience.core import safe_json
    from resilience.core.report_schema import validate_body
    from resilience.core.strategy import CLOSED_CIRCUIT
    from resilience.groups.selectors import classification_rules
    from resilience.ingest import service as ingest
    from resilience.ingest.entry_rows import encode
    from resilience.ingest.scrubbing import service_scrubber
    from resilience.models import Service

    service_id = Service.objects.get(slug="bench").pk
    maker = BodyMaker("steps", args.batch, report_templates())
    per_pass = args.bodies * args.batch
    now = datetime.now(UTC)
    max_batch = conf.get("INGEST_MAX_BATCH")
    max_attempts = conf.get("RETRY_MAX_ATTEMPTS")
    by_cause = conf.get("CLASSIFY_BY_CAUSE")
    policy = ingest.backoff_policy()
    scrubber = service_scrubber(service_id)
    rules = classification_rules()
    # The circuits as closed (the whole view below asks Redis).
    closed = CircuitReading(state="CLOSED", view=CLOSED_CIRCUIT)

    def fresh_bodies() -> list[bytes]:
        return [maker.next() for _ in range(args.bodies)]

    def parse(raw: bytes):
        return safe_json.loads(raw, text="keep"), not safe_json.text_escapes(raw)

    def validate(parsed):
        return validate_body(parsed[0], max_batch=max_batch, now=now, text_checked=parsed[1])[0]

    def scrub(reports):
        return [scrubber.report(report) for report in reports]

    def classified(reports):
        return reports, ingest.reports_classified(reports, rules=rules, by_cause=by_cause)

    def built(pair):
        reports, classifications = pair
        failures = ingest.circuit_failures(reports, classifications, max_attempts=max_attempts)
        circuits = dict.fromkeys(failures, closed)
        return [
            ingest.build_entry(report, service_id=service_id, source="api", now=now,
                               policy=policy, max_attempts=max_attempts,
                               classification=classification,
                               circuit=circuits.get(report.get("operation") or "",
                                                    NO_CIRCUIT).view)
            for report, classification in zip(reports, classifications, strict=True)
        ]

    def encoded(entries):
        for entry in entries:
            entry.pk = 1  # as the COPY leaves them: the answer reads the id
        return [encode(entry) for entry in entries]

    def answered(entries):
        return answers_json([ingest.accepted_of(entry, "CLOSED").as_dict() for entry in entries])

    bodies = fresh_bodies()
    print(f"{args.bodies} bodies of {args.batch:,} reports "
          f"({len(bodies[0]) / args.batch:,.0f} B a report), fastest of {args.passes} passes, "
          f"process CPU per report:")
    total = 0.0
    values: list = bodies
    for name, step in (("parse (safe_json)", parse), ("validate", validate), ("scrub", scrub),
                       ("classify", classified), ("decide + build entries", built)):
        values, ms = timed(name, step, values, args.passes, per_pass)
        total += ms
    for name, step in (("encode (COPY lines)", encoded), ("answer (JSON)", answered)):
        _, ms = timed(name, step, values, args.passes, per_pass)
        total += ms
    print(f"  {'steps in total':<34} {total:7.4f} ms")

    factory = RequestFactory()

    def post(body: bytes):
        response = report_errors(factory.post("/api/v1/errors/", data=body,
                                              content_type="application/json",
                                              HTTP_AUTHORIZATION=f"Bearer {raw_key}"))
        assert response.status_code == 201, response.content[:300]
        return response

    best = float("inf")
    for _ in range(args.passes):
        bodies = fresh_bodies()  # new event ids: every pass stores its rows
        started = time.process_time()
        for body in bodies:
            post(body)
        best = min(best, time.process_time() - started)
    print(f"  {'whole view (with the COPY)':<34} {best / per_pass * 1000:7.4f} ms")
    if args.profile:
        profile = cProfile.Profile()
        bodies = fresh_bodies()
        profile.enable()
        for body in bodies:
            post(body)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    answer = json.loads(post(fresh_bodies()[0]).content)
    print(f"  answers: {len(answer)} per body, e.g. {json.dumps(answer[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
