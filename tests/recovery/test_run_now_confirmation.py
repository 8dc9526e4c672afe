""""Run now" and "Run these procedures again now" ask on a confirmation page first, as
Django's delete does: the page changes nothing, only its POST queues (audited as before)."""

import pytest

from recovery.models import RecoveryRun
from recovery.services import RUN_NOW_TASK
from resilience.models import AuditEvent

CHANGELIST = "/admin/recovery/recoveryrun/"
RUN_NOW = "/admin/recovery/recoveryrun/run-now/"


@pytest.fixture
def queued(catch_task) -> list[str]:
    names: list[str] = []
    catch_task(RUN_NOW_TASK, lambda kwargs, **options: names.append(kwargs["name"]))
    return names


def test_the_list_links_to_the_confirmation_page(client, triager, db):
    client.force_login(triager)
    html = client.get(CHANGELIST).content.decode()
    assert f'href="{RUN_NOW}?procedure=cleanup.outbox"' in html


def test_get_asks_and_does_nothing_then_the_post_queues_and_audits(client, triager, queued):
    client.force_login(triager)
    page = client.get(RUN_NOW, {"procedure": "cleanup.outbox"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Run this procedure now?" in html and "cleanup.outbox" in html
    assert '<input type="hidden" name="procedure" value="cleanup.outbox">' in html
    assert 'method="post"' in html
    assert queued == [] and not AuditEvent.objects.exists()
    response = client.post(RUN_NOW, {"procedure": "cleanup.outbox", "post": "yes"})
    assert response.status_code == 302
    assert queued == ["cleanup.outbox"]
    audit = AuditEvent.objects.get(action="recovery.run_now")
    assert (audit.actor, audit.target_id) == (triager, "cleanup.outbox")


def test_a_viewer_gets_403_on_the_page_and_on_the_post(client, viewer, queued):
    client.force_login(viewer)
    assert client.get(RUN_NOW, {"procedure": "cleanup.outbox"}).status_code == 403
    assert client.post(RUN_NOW, {"procedure": "cleanup.outbox"}).status_code == 403
    assert queued == [] and not AuditEvent.objects.exists()


def test_an_unknown_procedure_is_not_offered(client, triager, queued):
    client.force_login(triager)
    response = client.get(RUN_NOW, {"procedure": "no.such"}, follow=True)
    assert "Unknown procedure" in response.content.decode()
    assert queued == []


def test_run_again_asks_first_and_only_the_confirmation_queues(client, triager, queued):
    runs = [RecoveryRun.objects.create(procedure=name, outcome="SUCCEEDED")
            for name in ("cleanup.outbox", "cleanup.outbox", "timers.reclaim_stuck")]
    client.force_login(triager)
    selected = [run.pk for run in runs]
    page = client.post(CHANGELIST, {"action": "run_again", "index": 0,
                                    "_selected_action": selected})
    html = page.content.decode()
    assert "Run these procedures again now?" in html
    assert "<li>cleanup.outbox</li>" in html and "<li>timers.reclaim_stuck</li>" in html
    assert queued == [] and not AuditEvent.objects.exists()
    client.post(CHANGELIST, {"action": "run_again", "_selected_action": selected,
                             "post": "yes"})
    assert queued == ["cleanup.outbox", "timers.reclaim_stuck"]
    assert AuditEvent.objects.filter(action="recovery.run_now").count() == 2


def test_a_viewer_is_not_offered_run_again(client, viewer, queued):
    run = RecoveryRun.objects.create(procedure="cleanup.outbox", outcome="SUCCEEDED")
    client.force_login(viewer)
    client.post(CHANGELIST, {"action": "run_again", "_selected_action": [run.pk],
                             "post": "yes"})
    assert queued == []
