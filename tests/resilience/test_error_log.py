"""The seed's ErrorLogger output: the console line (pure formatting), and what the digest
logs once it has committed a batch: every entry on `faultline.errors`, CRITICAL ones in a
file too."""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from resilience.core import error_log
from resilience.core.error_log import LoggedError
from resilience.digest.service import digest_batch
from resilience.models import ErrorLogEntry

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
TRACE = 'Traceback (most recent call last):\n  File "jobs.py", line 3, in run\nMemoryError\n'


def error(**fields) -> LoggedError:
    base = {"id": 7, "event_id": "evt-7", "service_id": 1, "timestamp": WHEN,
            "severity": "LOW", "category": "TRANSIENT", "code": "ECONNREFUSED",
            "message": "connect refused"}
    return LoggedError(**{**base, **fields})


# --- formatting (pure) ---------------------------------------------------------------------


def test_the_console_line_is_the_seeds_format():
    assert error_log.console_line(error()) == (
        "[2026-11-28T10:00:00.123Z] TRANSIENT:ECONNREFUSED - connect refused")
    assert error_log.console_line(error(campaign_id="c-42")) == (
        "[2026-11-28T10:00:00.123Z] TRANSIENT:ECONNREFUSED - connect refused (Campaign: c-42)")


def test_the_timestamp_is_written_in_utc_as_javascripts_toisostring():
    paris = WHEN.astimezone(timezone(timedelta(hours=1)))
    assert error_log.iso_timestamp(paris) == "2026-11-28T10:00:00.123Z"
    assert error_log.iso_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


@pytest.mark.parametrize("moment", [
    WHEN, WHEN.replace(microsecond=999_999), WHEN.replace(tzinfo=None),
    datetime(1000, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 5000, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC), WHEN.astimezone(timezone(timedelta(hours=-9, minutes=-30))),
])
def test_the_timestamp_reads_the_same_on_every_path(moment):
    """UTC datetimes (what the database returns) take isoformat, the rest strftime: one
    text either way."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    assert error_log.iso_timestamp(moment) == (
        utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z")


def test_the_text_from_values_is_the_text_of_the_logged_error():
    for fields in ({}, {"campaign_id": "c-1"}, {"code": "", "message": ""},
                   {"severity": "CRITICAL", "stack_trace": TRACE},
                   {"message": "a\nb\r" + "x" * 2000, "category": "X\nY"}):
        e = error(**fields)
        assert error_log.text_of(e.timestamp, e.severity, e.category, e.code, e.message,
                                 e.campaign_id, e.stack_trace) == error_log.console_text(e)


def test_no_code_and_no_message_read_as_in_the_seed():
    assert error_log.console_line(error(code="", message="")).endswith(
        "TRANSIENT:UNKNOWN_ERROR - Unknown error")


@pytest.mark.parametrize(
    ("severity", "level"),
    [("LOW", logging.INFO), ("MEDIUM", logging.WARNING), ("HIGH", logging.ERROR),
     ("CRITICAL", logging.CRITICAL)],
)
def test_each_severity_has_its_console_level(severity, level):
    assert error_log.level_of(severity) == level


def test_a_long_message_is_cut_and_a_newline_cannot_forge_a_second_line():
    line = error_log.console_line(error(message="x" * 5000))
    assert len(line) < error_log.MESSAGE_MAX_CHARS + 100 and line.endswith("x…")
    forged = error_log.console_line(error(message="ok\n[2026-01-01T00:00:00.000Z] fake",
                                          campaign_id="c\r\n1"))
    assert "\n" not in forged and "\r" not in forged
    assert forged.endswith("ok\\n[2026-01-01T00:00:00.000Z] fake (Campaign: c\\r\\n1)")


def test_only_critical_text_carries_the_stack_trace():
    assert error_log.console_text(error(stack_trace=TRACE)) == error_log.console_line(error())
    critical = error(severity="CRITICAL", category="RESOURCE_EXHAUSTION", code="ENOMEM",
                     stack_trace=TRACE)
    assert error_log.console_text(critical) == f"{error_log.console_line(critical)}\n{TRACE}"
    long = error_log.console_text(error(severity="CRITICAL", stack_trace="y" * 100_000))
    assert len(long) < error_log.STACK_TRACE_MAX_CHARS + 200


def test_the_critical_file_gets_one_json_line_per_critical_error_only():
    critical = error(severity="CRITICAL", category="RESOURCE_EXHAUSTION", code="ENOMEM",
                     message="out of memory", campaign_id="c-9", stack_trace=TRACE)
    text = error_log.critical_lines([error(), critical, error(severity="HIGH")])
    lines = text.splitlines()
    assert len(lines) == 1 and text.endswith("\n")
    record = json.loads(lines[0])
    assert record["entry_id"] == 7 and record["code"] == "ENOMEM"
    assert record["stack_trace"] == TRACE
    assert record["line"] == ("[2026-11-28T10:00:00.123Z] RESOURCE_EXHAUSTION:ENOMEM - "
                              "out of memory (Campaign: c-9)")
    assert error_log.critical_lines([error()]) == ""


# --- after the digest commits --------------------------------------------------------------

REPORTS = [
    {"code": "ECONNREFUSED", "message": "connect refused", "campaign_id": "c-1"},  # LOW
    {"code": "ValidationError", "message": "bad amount"},  # MEDIUM
    {"code": "401", "message": "token expired"},  # HIGH
    {"code": "ENOMEM", "message": "out of memory", "stack_trace": TRACE,
     "timestamp": "2026-11-28T10:00:00.5Z"},  # CRITICAL
]


@pytest.fixture
def critical_file(settings, tmp_path) -> Path:
    path = tmp_path / "logs" / "critical-errors.log"  # the directory is made on first use
    settings.FAULTLINE = {**settings.FAULTLINE, "ERROR_CRITICAL_LOG_PATH": str(path),
                          "ALERT_ENABLED": False}
    return path


def report(client, bodies) -> None:
    response = client.post("/api/v1/errors/", data=json.dumps(bodies),
                           content_type="application/json")
    assert response.status_code == 201, response.content


def logged(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == error_log.LOGGER_NAME]


def test_the_digest_logs_each_entry_once_after_commit_at_its_level(
    service_client, critical_file, caplog, django_capture_on_commit_callbacks
):
    report(service_client, REPORTS)
    caplog.set_level(logging.INFO, logger=error_log.LOGGER_NAME)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        digest_batch(limit=100)
    assert logged(caplog) == []  # nothing before the batch commits
    for callback in callbacks:
        callback()
    records = logged(caplog)
    assert [level for level, _ in records] == [
        logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    assert records[0][1].endswith("] TRANSIENT:ECONNREFUSED - connect refused (Campaign: c-1)")
    assert "] SECURITY:401 - token expired" in records[2][1]
    assert records[3][1] == (
        "[2026-11-28T10:00:00.500Z] RESOURCE_EXHAUSTION:ENOMEM - out of memory\n" + TRACE)
    # Records as errors_logger.log() would make them, caller included (a format may show it).
    mine = [r for r in caplog.records if r.name == error_log.LOGGER_NAME]
    assert {(r.funcName, Path(r.pathname).name, r.module) for r in mine} == {
        ("_log_after_commit", "service.py", "service")}
    assert all(r.lineno > 0 and r.msg == "%s" and r.exc_info is None for r in mine)
    # Digested entries are not claimed again, so they are not logged again.
    with django_capture_on_commit_callbacks(execute=True):
        assert digest_batch(limit=100).entries == 0
    assert len(logged(caplog)) == 4


def test_critical_entries_are_appended_to_the_file_with_their_stack_trace(
    service_client, critical_file, django_capture_on_commit_callbacks
):
    for _ in range(2):  # two batches append, nothing is overwritten
        report(service_client, REPORTS)
        with django_capture_on_commit_callbacks(execute=True):
            digest_batch(limit=100)
    records = [json.loads(line) for line in critical_file.read_text().splitlines()]
    critical_ids = list(ErrorLogEntry.objects.filter(severity="CRITICAL")
                        .order_by("id").values_list("id", flat=True))
    assert [r["entry_id"] for r in records] == critical_ids and len(critical_ids) == 2
    assert {(r["severity"], r["code"], r["stack_trace"]) for r in records} == {
        ("CRITICAL", "ENOMEM", TRACE)}


def test_an_empty_path_means_no_file_and_the_log_lines_still_go_out(
    service_client, settings, caplog, django_capture_on_commit_callbacks
):
    settings.FAULTLINE = {**settings.FAULTLINE, "ERROR_CRITICAL_LOG_PATH": "",
                          "ALERT_ENABLED": False}
    report(service_client, REPORTS[3])
    caplog.set_level(logging.INFO, logger=error_log.LOGGER_NAME)
    with django_capture_on_commit_callbacks(execute=True):
        digest_batch(limit=100)
    assert [level for level, _ in logged(caplog)] == [logging.CRITICAL]


def test_a_file_that_cannot_be_written_is_logged_and_the_digest_stands(
    service_client, critical_file, caplog, django_capture_on_commit_callbacks
):
    critical_file.parent.write_text("a file where the directory should be")
    report(service_client, REPORTS[3])
    caplog.set_level(logging.INFO, logger=error_log.LOGGER_NAME)
    with django_capture_on_commit_callbacks(execute=True):
        result = digest_batch(limit=100)
    assert result.entries == 1
    assert not ErrorLogEntry.objects.filter(digested_at=None).exists()
    levels_and_text = logged(caplog)
    assert levels_and_text[0][0] == logging.CRITICAL
    assert levels_and_text[1][0] == logging.ERROR
    assert "could not append to the critical error log" in levels_and_text[1][1]


def test_the_file_path_is_read_from_the_environment():
    code = ("import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.base'; "
            "import django; django.setup(); from resilience import conf; "
            "print(repr(conf.get('ERROR_CRITICAL_LOG_PATH')))")
    env = {k: v for k, v in os.environ.items() if k != "FAULTLINE_ERROR_CRITICAL_LOG_PATH"}

    def read(**extra) -> str:
        run = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert read().endswith("critical-errors.log'")
    assert read(FAULTLINE_ERROR_CRITICAL_LOG_PATH="") == "''"
    assert read(FAULTLINE_ERROR_CRITICAL_LOG_PATH="/srv/log/crit.log") == "'/srv/log/crit.log'"
