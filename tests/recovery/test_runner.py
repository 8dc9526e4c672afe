"""Running procedures: one RecoveryRun each, a failure never hides the others; the
command; the admin's history and "Run now" (permissioned, audited)."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from recovery import registry
from recovery.models import RecoveryRun
from recovery.registry import PROCEDURES, RECOVERY, Result, in_group
from recovery.services import group_run, procedure_run, procedures_run
from resilience.models import AuditEvent


@pytest.fixture
def broken_procedure(monkeypatch):
    def explode(now):
        raise RuntimeError("disk on fire")

    proc = PROCEDURES["timers.reclaim_stuck"]
    monkeypatch.setitem(PROCEDURES, proc.name, registry.Procedure(
        proc.name, proc.group, proc.description, explode))
    return proc.name


def test_every_recovery_procedure_is_recorded_once(no_bus):
    runs = group_run(RECOVERY)
    assert [r.procedure for r in runs] == [p.name for p in in_group(RECOVERY)]
    assert RecoveryRun.objects.count() == len(runs) == 10
    for run in RecoveryRun.objects.all():
        assert run.finished_at >= run.started_at
        assert run.outcome in ("SUCCEEDED", "SKIPPED"), (run.procedure, run.error)


def test_a_failing_procedure_is_recorded_and_the_others_still_run(broken_procedure, no_bus):
    runs = group_run(RECOVERY)
    by_name = {r.procedure: r for r in runs}
    failed = by_name[broken_procedure]
    assert failed.outcome == "FAILED"
    assert failed.error.startswith("RuntimeError: disk on fire")
    assert "explode" in failed.error  # the traceback's tail
    assert {r.outcome for n, r in by_name.items() if n != broken_procedure} <= {
        "SUCCEEDED", "SKIPPED"}
    assert len(runs) == 10


def test_an_unknown_procedure_is_refused(db):
    with pytest.raises(ValueError, match="unknown procedure 'nope'"):
        procedure_run("nope")


def test_changed_lists_at_most_100_ids():
    out = registry.ids(range(250))
    assert len(out["ids"]) == 100 and out["ids_truncated"] is True
    assert registry.ids([1, 2]) == {"ids": [1, 2]}


def test_the_command_lists_and_runs_procedures(no_bus):
    out = io.StringIO()
    call_command("recover", "--list", stdout=out)
    assert "timers.reclaim_stuck" in out.getvalue() and "cleanup.entries" in out.getvalue()
    out = io.StringIO()
    call_command("recover", "timers.reclaim_stuck", "cleanup.outbox", stdout=out)
    assert list(RecoveryRun.objects.order_by("id").values_list("procedure", "via")) == [
        ("timers.reclaim_stuck", "command"), ("cleanup.outbox", "command")]
    with pytest.raises(CommandError, match="unknown procedure"):
        call_command("recover", "bogus")


def test_the_command_fails_when_a_procedure_fails(broken_procedure, no_bus):
    with pytest.raises(CommandError, match="1 procedure"):
        call_command("recover", broken_procedure, stdout=io.StringIO())


def test_the_tasks_run_their_group(no_bus, monkeypatch):
    from recovery import tasks

    outcomes = tasks.recovery_run()
    assert set(outcomes["procedures"]) == {p.name for p in in_group(RECOVERY)}
    assert set(tasks.cleanup_run()["procedures"]) == {p.name for p in in_group("cleanup")}


def test_the_admin_shows_the_history_with_filters(no_bus, client, viewer):
    procedures_run(["timers.reclaim_stuck", "deferred_writes.report"])
    client.force_login(viewer)
    page = client.get("/admin/recovery/recoveryrun/?procedure=timers.reclaim_stuck"
                      "&outcome__exact=SUCCEEDED")
    assert page.status_code == 200
    text = page.content.decode()
    assert "timers.reclaim_stuck" in text
    assert "Run now" not in text  # viewers only read
    run = RecoveryRun.objects.first()
    assert client.get(f"/admin/recovery/recoveryrun/{run.pk}/change/").status_code == 200
    assert client.post("/admin/recovery/recoveryrun/run-now/",
                       {"procedure": "timers.reclaim_stuck"}).status_code == 403


def test_run_now_is_audited_and_queued(triager, client, catch_task):
    from recovery import tasks
    from recovery.services import RUN_NOW_TASK

    queued = []
    catch_task(RUN_NOW_TASK, lambda kwargs, **options: queued.append(kwargs))
    client.force_login(triager)
    assert "Run now" in client.get("/admin/recovery/recoveryrun/").content.decode()
    response = client.post("/admin/recovery/recoveryrun/run-now/",
                           {"procedure": "outbox.republish"})
    assert response.status_code == 302
    assert queued == [{"name": "outbox.republish", "actor_id": triager.pk, "via": "admin"}]
    audit = AuditEvent.objects.get(action="recovery.run_now")
    assert (audit.actor, audit.target_id) == (triager, "outbox.republish")
    # The queued task runs it as the operator.
    tasks.procedure_run_now(**queued[0])
    run = RecoveryRun.objects.get()
    assert (run.procedure, run.via, run.actor) == ("outbox.republish", "admin", triager)


def test_run_again_action_queues_the_selected_procedures(triager, client, catch_task, db):
    from recovery.services import RUN_NOW_TASK

    queued = []
    catch_task(RUN_NOW_TASK, lambda kwargs, **options: queued.append(kwargs["name"]))
    run = RecoveryRun.objects.create(procedure="cleanup.outbox", outcome="SUCCEEDED")
    client.force_login(triager)
    client.post("/admin/recovery/recoveryrun/", {"action": "run_again",
                                                  "_selected_action": [run.pk], "post": "yes"})
    assert queued == ["cleanup.outbox"]


def test_a_procedure_already_running_elsewhere_is_skipped(postgres, no_bus):
    import zlib

    import psycopg2
    from django.db import connection

    key = zlib.crc32(b"faultline.recovery.timers.reclaim_stuck")
    other = psycopg2.connect(dbname=connection.settings_dict["NAME"],
                             **{k: v for k, v in (("host", connection.settings_dict["HOST"]),
                                                  ("user", connection.settings_dict["USER"]),
                                                  ("port", connection.settings_dict["PORT"]))
                                if v})
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
            run = procedure_run("timers.reclaim_stuck")
            assert run.outcome == "SKIPPED" and "already running" in run.changed["reason"]
            # Released here: closing the connection frees it only once the server's
            # backend has exited, which may be after the next line.
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        other.close()
    assert procedure_run("timers.reclaim_stuck").outcome == "SUCCEEDED"


def test_the_summary_is_the_seeds():
    from datetime import UTC, datetime

    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert registry.summarize(["SUCCEEDED", "SKIPPED", "FAILED", "UNRECORDED"], timestamp=at) == {
        "successful": 2, "failed": 2, "total": 4, "success": False,
        "timestamp": "2026-11-30T12:00:00+00:00", "skipped": 1}
    assert registry.summarize(["SUCCEEDED", "SKIPPED"], timestamp=at)["success"] is True


def test_a_run_of_every_procedure_is_summarized(broken_procedure, no_bus):
    from datetime import datetime

    from recovery.services import recovery_perform

    performed = recovery_perform()
    assert len(performed.runs) == 10
    summary = performed.summary
    assert (summary["total"], summary["failed"], summary["successful"]) == (10, 1, 9)
    assert summary["success"] is False
    assert summary["skipped"] == sum(r.outcome == "SKIPPED" for r in performed.runs)
    assert datetime.fromisoformat(summary["timestamp"]) >= performed.runs[-1].finished_at


def test_the_task_and_the_command_give_the_summary(no_bus):
    import json

    from recovery import tasks

    result = tasks.recovery_run()
    assert {"successful", "failed", "total", "success", "timestamp"} <= set(result)
    assert (result["total"], result["failed"], result["success"]) == (10, 0, True)
    out = io.StringIO()
    call_command("recover", stdout=out)
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("summary ")
    summary = json.loads(last.removeprefix("summary "))
    assert (summary["total"], summary["successful"], summary["success"]) == (10, 10, True)


def test_results_default_to_succeeded():
    assert Result().outcome == "SUCCEEDED"
