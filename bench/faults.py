#!/usr/bin/env python
"""The fault run (issue 12): real processes, real outages, a fixed-rate load, and checks.

`make faults` (about 4 minutes) or `make faults FAULTS_ARGS=--quick` (about a minute).
Everything runs on loopback against servers of its own (tests/faults/services.py): a
private PostgreSQL cluster and a private Redis (cache on db 0, Celery broker on db 1), never
the machine's. It starts gunicorn (production settings; the load sends
`X-Forwarded-Proto: https` as nginx does), a Celery worker and beat, then for each scenario:

1. loads POST /api/v1/errors/ at a fixed rate (open loop, keep-alive, unique event ids
   `<scenario>-<n>`), recording every answer's status, `Retry-After` and `"spooled"`;
2. injects the fault (Redis killed, PostgreSQL stopped or crashed, worker killed -9) and
   brings the dependency back;
3. keeps loading until digestion has caught up (every entry received before the restore
   digested, and the oldest undigested one younger than `--lag`, 10 s) or
   twice `--catch-up-bound` (20 s) passed, then waits for the spool to drain;
4. checks: every 2xx answer's event id stored exactly once; no 500; a 503 only with
   `Retry-After` and a full spool; no other 5xx, redirect or unanswered request; every
   process still running on its own; digestion caught up within the bound.

A table per scenario, the violations, and exit status 1 if there was any (2 if the run
could not start). Results and how to read them: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import BodyMaker, free_port, percentile, report_templates  # noqa: E402
from _faults_load import PATH, Answer, Loader  # noqa: E402

from tests.faults.services import PrivatePostgres, PrivateRedis, migrate  # noqa: E402

ENTRY_TABLE = "resilience_errorlogentry"

KEY_SNIPPET = """
import django
django.setup()
from resilience.models import Service
from resilience.ingest.keys import service_key_create
service = Service.objects.create(name="faults", slug="faults")
print(service_key_create(service=service, label="faults")[1])
"""


# --- the database, read directly ---------------------------------------------------------


def pg_query(url: str, sql: str, params: tuple = ()) -> list[tuple] | None:
    """Rows of one query on a fresh connection; None while the database is unreachable."""
    import psycopg2

    u = urlparse(url)
    try:
        conn = psycopg2.connect(host=u.hostname, port=u.port, user=u.username,
                                dbname=u.path.lstrip("/"), connect_timeout=2)
    except psycopg2.OperationalError:
        return None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def digest_behind(url: str, restored_at: float) -> tuple[float, int] | None:
    """(lag, backlog): seconds since the oldest undigested entry arrived, and how many
    undigested entries arrived before `restored_at` (epoch seconds). Quarantined entries
    are set aside, not late."""
    rows = pg_query(url, "SELECT EXTRACT(EPOCH FROM now() - min(received_at)), "
                         "count(*) FILTER (WHERE received_at <= to_timestamp(%s)) "
                         f"FROM {ENTRY_TABLE} "
                         "WHERE digested_at IS NULL AND quarantined_at IS NULL",
                    (restored_at,))
    if rows is None:
        return None
    return float(rows[0][0] or 0.0), int(rows[0][1])


def stored_ids(url: str, tag: str) -> Counter | None:
    rows = pg_query(url, f"SELECT event_id, count(*) FROM {ENTRY_TABLE} "
                         "WHERE event_id LIKE %s GROUP BY event_id", (f"{tag}-%",))
    return None if rows is None else Counter(dict(rows))


# --- the processes -----------------------------------------------------------------------


class Process:
    """One of ours in a session of its own, so a kill reaches its children too."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.log = logdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "a") as log:
            log.write(f"\n--- start {self.starts} at {time.strftime('%H:%M:%S')} ---\n")
            log.flush()
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def count(self, text: str) -> int:
        try:
            return self.log.read_text(errors="replace").count(text)
        except OSError:
            return 0

    def tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_http(port: int, path: str, timeout: float) -> bool:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers; /healthz says whether it is healthy
        except OSError:
            time.sleep(0.3)
    return False


# --- scenarios ---------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    what: str
    fault: Callable[[], None]  # takes the dependency away and brings it back


@dataclass
class Outcome:
    scenario: Scenario
    answers: list[Answer]
    fault_at: float  # monotonic time the fault began
    stored: Counter
    # Seconds from the restore until everything received before it was digested and the
    # lag was under --lag (None: not within --catch-up-bound).
    catch_up: float | None
    violations: list[str] = field(default_factory=list)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="faultline-faults-"))
        self.pg = PrivatePostgres()
        self.redis = PrivateRedis()
        self.port = free_port()
        self.key = ""
        self.processes: dict[str, Process] = {}
        self.db_url = ""

    # setup and teardown

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": "faults-only-secret-key-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.db_url,
            "REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.redis.url(1),
            "FAULTLINE_VAR_DIR": str(self.tmp / "var"),
            "LOG_LEVEL": "WARNING",
        }

    def setup(self) -> None:
        self.pg.start()
        self.redis.start()
        self.db_url = self.pg.createdb("faultline")
        migrate(self.db_url, base_dir=ROOT)
        env = self.env()
        done = subprocess.run([str(BIN / "python"), "-c", KEY_SNIPPET], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"creating the service key failed:\n{done.stderr[-2000:]}")
        self.key = done.stdout.strip().splitlines()[-1]
        a = self.args
        self.processes = {
            "gunicorn": Process("gunicorn", [
                str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(a.web_workers),
                # info: worker boots and max_requests recycling show in the log.
                "--access-logfile", "/dev/null", "--log-level", "info",
                "config.wsgi:application"], env, self.tmp),
            "worker": Process("worker", [
                str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "WARNING",
                "--concurrency", "2", "-Q", "digest,alerts,replay,maintenance"], env, self.tmp),
            "beat": Process("beat", [
                str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING",
                "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                "--schedule", str(self.tmp / "celerybeat-schedule")], env, self.tmp),
        }
        for process in self.processes.values():
            process.start()
        if not wait_http(self.port, "/healthz", 60):
            raise RuntimeError("gunicorn did not answer /healthz in 60 s:\n"
                               + self.processes["gunicorn"].tail(20))

    def teardown(self) -> None:
        for process in self.processes.values():
            process.kill()
        self.redis.destroy()
        self.pg.destroy()

    # the faults

    def redis_outage(self) -> None:
        self.redis.stop()
        time.sleep(self.args.outage)
        self.redis.start()

    def postgres_stop(self, seconds: float) -> Callable[[], None]:
        def fault() -> None:
            self.pg.stop("fast")
            time.sleep(seconds)
            self.pg.start()
        return fault

    def postgres_crash(self) -> None:
        self.pg.stop("immediate")
        self.pg.start()

    def worker_kill(self) -> None:
        self.processes["worker"].kill(signal.SIGKILL)
        time.sleep(self.args.worker_down)
        self.processes["worker"].start()

    def scenarios(self) -> list[Scenario]:
        chosen = self._scenarios()
        if self.args.only:
            chosen = [s for s in chosen if s.name in self.args.only]
        return chosen

    def _scenarios(self) -> list[Scenario]:
        a = self.args
        if a.quick:
            return [
                Scenario("pg-stop", f"PostgreSQL stopped (fast) {a.outage:g} s",
                         self.postgres_stop(a.outage)),
                Scenario("worker-kill", f"worker killed -9, {a.worker_down:g} s down",
                         self.worker_kill),
            ]
        return [
            Scenario("redis-kill", f"Redis killed {a.outage:g} s", self.redis_outage),
            Scenario("pg-stop", f"PostgreSQL stopped (fast) {a.outage:g} s",
                     self.postgres_stop(a.outage)),
            Scenario("pg-crash", "PostgreSQL crashed (immediate) and restarted",
                     self.postgres_crash),
            Scenario("worker-kill", f"worker killed -9, {a.worker_down:g} s down",
                     self.worker_kill),
        ]

    # one scenario

    def preflight(self) -> list[str]:
        """Plain-HTTP ingest must not be redirected: a client following a 301 loses the
        report (it turns the POST into a GET)."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = BodyMaker("preflight", 0, report_templates(1)).next()
        conn.request("POST", PATH, body=body, headers={
            "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        if 300 <= status < 400:
            return [f"plain-HTTP POST {PATH} (no X-Forwarded-Proto) answered {status}: "
                    "a client following it loses the report"]
        return []

    def run_scenario(self, scenario: Scenario) -> Outcome:
        a = self.args
        loader = Loader(port=self.port, key=self.key, tag=scenario.name, rate=a.rate,
                        timeout=a.timeout)
        recycled = self.processes["gunicorn"].count("Autorestarting worker")
        loader.start()
        time.sleep(a.warmup)
        fault_at = time.monotonic()
        scenario.fault()
        restored, restored_at = time.monotonic(), time.time()
        catch_up = None
        # Load on while digestion catches up, at least --after seconds.
        while True:
            waited = time.monotonic() - restored
            if catch_up is None:
                behind = digest_behind(self.db_url, restored_at)
                if behind is not None and behind[0] < a.lag and behind[1] == 0:
                    catch_up = waited
            # Observed up to twice the bound, so the table says by how much it was missed.
            if waited >= a.after and (catch_up is not None or waited >= 2 * a.catch_up_bound):
                break
            time.sleep(0.5)
        loader.finish()
        # The spool drains: wait (bounded) until every accepted report is stored.
        accepted = {x.event_id for x in loader.answers if x.status and 200 <= x.status < 300}
        deadline = time.monotonic() + a.drain_bound
        stored = Counter()
        while time.monotonic() < deadline:
            stored = stored_ids(self.db_url, scenario.name) or stored
            if accepted <= set(stored):
                break
            time.sleep(1)
        outcome = Outcome(scenario, loader.answers, fault_at, stored, catch_up)
        self.judge(outcome, accepted)
        recycled = self.processes["gunicorn"].count("Autorestarting worker") - recycled
        if recycled:  # context for the numbers, not a violation in itself
            print(f"  note: gunicorn recycled {recycled} worker(s) (max_requests) meanwhile")
        return outcome

    def judge(self, outcome: Outcome, accepted: set[str]) -> None:
        a, v, answers = self.args, outcome.violations, outcome.answers
        missing = accepted - set(outcome.stored)
        if missing:
            v.append(f"{len(missing)} reports answered 2xx are not stored "
                     f"(e.g. {sorted(missing)[:3]})")
        twice = [e for e, n in outcome.stored.items() if n > 1]
        if twice:
            v.append(f"{len(twice)} event ids stored more than once")
        statuses = Counter(x.status for x in answers if x.status is not None)

        def when(selected: list[Answer]) -> str:
            times = [x.sent_at - outcome.fault_at for x in selected]
            return f"(sent {min(times):+.1f} s to {max(times):+.1f} s from the fault)"

        if statuses[500]:
            v.append(f"{statuses[500]} answers were 500 "
                     f"{when([x for x in answers if x.status == 500])}")
        bad_503 = sum(1 for x in answers if x.status == 503
                      and not (x.retry_after and x.spool_full))
        if bad_503:
            v.append(f"{bad_503} answers were 503 without Retry-After or with the spool "
                     "not full")
        others = {s: n for s, n in statuses.items()
                  if s not in (500, 503) and not 200 <= s < 300}
        if others:
            v.append(f"unexpected statuses {dict(sorted(others.items()))}")
        unanswered = Counter(x.error for x in answers if x.status is None)
        if unanswered:
            v.append(f"{sum(unanswered.values())} requests got no answer {dict(unanswered)} "
                     f"{when([x for x in answers if x.status is None])}")
        if outcome.catch_up is None or outcome.catch_up > a.catch_up_bound:
            v.append(f"digestion not caught up (backlog from before the restore digested, "
                     f"lag under {a.lag:g} s) within {a.catch_up_bound:g} s of the restore")
        for process in self.processes.values():
            if not process.alive():
                v.append(f"{process.name} exited on its own: {process.tail(2)!r}")
                process.start()  # so the next scenario still measures something


# --- the report --------------------------------------------------------------------------

COLUMNS = ("scenario", "sent", "2xx", "spooled", "stored", "lost", "500", "503", "other",
           "no answer", "p99 ms", "max ms", "caught up")


def row(outcome: Outcome) -> tuple[str, ...]:
    answers = outcome.answers
    ok = [x for x in answers if x.status and 200 <= x.status < 300]
    latencies = sorted(x.latency * 1000 for x in answers if x.status is not None)
    accepted = {x.event_id for x in ok}
    return (
        outcome.scenario.name, str(len(answers)), str(len(ok)),
        str(sum(x.spooled for x in ok)), str(len(outcome.stored)),
        str(len(accepted - set(outcome.stored))),
        str(sum(x.status == 500 for x in answers)),
        str(sum(x.status == 503 for x in answers)),
        str(sum(1 for x in answers if x.status and x.status not in (500, 503)
                and not 200 <= x.status < 300)),
        str(sum(x.status is None for x in answers)),
        f"{percentile(latencies, 99):.0f}", f"{max(latencies, default=0):.0f}",
        "not in 2x bound" if outcome.catch_up is None else f"{outcome.catch_up:.1f} s",
    )


def print_table(outcomes: list[Outcome]) -> None:
    rows = [COLUMNS, *(row(o) for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                        enumerate(zip(r, widths, strict=True))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="one short PostgreSQL stop and one worker kill (about a minute)")
    p.add_argument("--rate", type=float, default=150, help="reports a second (150)")
    p.add_argument("--outage", type=float, default=None,
                   help="seconds Redis / PostgreSQL stay down (15, quick 5)")
    p.add_argument("--worker-down", type=float, default=None,
                   help="seconds the killed worker stays down (5, quick 2)")
    p.add_argument("--warmup", type=float, default=None, help="load before the fault (5 s)")
    p.add_argument("--after", type=float, default=None,
                   help="load after the restore, at least (10 s, quick 5)")
    p.add_argument("--lag", type=float, default=10, help="digestion lag bound (10 s)")
    # The 10 s to resume, plus 10 s for a restarted process to boot and digest the
    # outage's backlog.
    p.add_argument("--catch-up-bound", type=float, default=20,
                   help="seconds after the restore for digestion to catch up (20)")
    p.add_argument("--drain-bound", type=float, default=30,
                   help="seconds after the load for the spool to drain (30)")
    p.add_argument("--timeout", type=float, default=10, help="per-request timeout (10 s)")
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--only", nargs="+", metavar="SCENARIO",
                   choices=["redis-kill", "pg-stop", "pg-crash", "worker-kill"],
                   help="run only these: redis-kill pg-stop pg-crash worker-kill")
    args = p.parse_args(argv)
    quick = args.quick
    for name, full, short in (("outage", 15, 5), ("worker_down", 5, 2), ("warmup", 5, 3),
                              ("after", 10, 5)):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(args)
    started = time.monotonic()
    print(f"fault run: {args.rate:g} reports/s, logs in {run.tmp}", flush=True)
    try:
        try:
            run.setup()
        except Exception as exc:  # noqa: BLE001 - reported, and the exit status says so
            detail = getattr(exc, "stderr", b"") or b""
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            print(f"setup failed: {exc}\n{detail[-2000:]}", file=sys.stderr)
            return 2
        violations = {"preflight": run.preflight()}
        outcomes = []
        for scenario in run.scenarios():
            print(f"- {scenario.name}: {scenario.what} …", flush=True)
            outcome = run.run_scenario(scenario)
            outcomes.append(outcome)
            violations[scenario.name] = outcome.violations
            time.sleep(2)  # a pause between scenarios
    finally:
        run.teardown()
    print()
    print_table(outcomes)
    print()
    failed = False
    for name, found in violations.items():
        for text in found:
            failed = True
            print(f"VIOLATION {name}: {text}")
    print(f"{'FAILED' if failed else 'OK'} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
