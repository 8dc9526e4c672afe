"""A DEAD_LETTER decision with nothing to replay (no payload, or no operation to find a
replay target by) makes no dead letter: its group is marked "needs manual intervention"
until it is resolved. The caller is still told DEAD_LETTER; DEAD_LETTER_REQUIRES_PAYLOAD
off restores the seed's dead letter for every decision."""

import json

import pytest
from django.urls import reverse

from resilience.digest.service import digest_batch
from resilience.groups.triage import error_group_resolve
from resilience.models import ClassificationRule, DeadLetter, ErrorGroup

ERRORS = "/api/v1/errors/"
INTEGRITY = {"name": "IntegrityError", "operation": "database.write",
             "message": 'duplicate key value violates unique constraint "order_pk"'}


@pytest.fixture(autouse=True)
def integrity_is_data_corruption_at_high(db):
    """As in test_creation.py: an operator's rule is what makes DEAD_LETTER decide."""
    ClassificationRule.objects.create(code="IntegrityError", category="DATA_CORRUPTION",
                                      severity="HIGH")


def post(client, body) -> dict:
    response = client.post(ERRORS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_no_payload_makes_no_dead_letter_and_marks_the_group(service_client):
    assert post(service_client, INTEGRITY)["strategy"] == "DEAD_LETTER"
    result = digest_batch(limit=100)
    assert result.dead_letters == 0 and not DeadLetter.objects.exists()
    assert ErrorGroup.objects.get().needs_manual_intervention
    # The seed's alert is raised from this (alerts/hooks.py): one per service and operation.
    [(_, count)] = result.dead_letter_entries.values()
    assert count == 1


def test_a_payload_without_an_operation_has_no_target_to_replay_to(service_client):
    post(service_client, {**INTEGRITY, "operation": "", "payload": {"order": 17}})
    digest_batch(limit=100)
    assert not DeadLetter.objects.exists()
    assert ErrorGroup.objects.get().needs_manual_intervention


def test_a_replayable_decision_is_dead_lettered_and_marks_nothing(service_client):
    post(service_client, {**INTEGRITY, "payload": {"order": 17}})
    assert digest_batch(limit=100).dead_letters == 1
    assert not ErrorGroup.objects.get().needs_manual_intervention


def test_the_seeds_behaviour_is_one_switch_away(service_client, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "DEAD_LETTER_REQUIRES_PAYLOAD": False}
    post(service_client, INTEGRITY)
    assert digest_batch(limit=100).dead_letters == 1
    assert DeadLetter.objects.get().payload is None
    assert not ErrorGroup.objects.get().needs_manual_intervention


def test_resolving_clears_the_mark_and_the_next_unreplayable_failure_sets_it(
        service_client, triager):
    post(service_client, INTEGRITY)
    digest_batch(limit=100)
    group = ErrorGroup.objects.get()
    error_group_resolve(group=group, actor=triager)
    group.refresh_from_db()
    assert not group.needs_manual_intervention

    post(service_client, INTEGRITY)
    digest_batch(limit=100)
    group.refresh_from_db()
    assert group.status == ErrorGroup.Status.OPEN and group.needs_manual_intervention


def test_the_api_lists_and_filters_the_marked_groups(service_client):
    post(service_client, INTEGRITY)
    post(service_client, {"code": "ECONNRESET", "message": "reset"})
    digest_batch(limit=100)
    marked = ErrorGroup.objects.get(name="IntegrityError")

    listed = service_client.get("/api/v1/groups/?needs_manual_intervention=true").json()
    assert [(g["id"], g["needs_manual_intervention"]) for g in listed["results"]] == [
        (marked.pk, True)]
    others = service_client.get("/api/v1/groups/?needs_manual_intervention=false").json()
    assert marked.pk not in [g["id"] for g in others["results"]]


def test_the_admin_shows_and_filters_the_mark(admin_client, service_client):
    post(service_client, INTEGRITY)
    post(service_client, {"code": "ECONNRESET", "message": "reset"})
    digest_batch(limit=100)
    marked = ErrorGroup.objects.get(name="IntegrityError")
    changelist = reverse("admin:resilience_errorgroup_changelist")

    page = admin_client.get(changelist, {"needs_manual_intervention__exact": "1"})
    assert list(page.context["cl"].queryset) == [marked]
    assert "Needs manual intervention" in page.content.decode()

    page = admin_client.get(reverse("admin:resilience_errorgroup_change", args=[marked.pk]))
    assert 'id="group-manual-intervention"' in page.content.decode()
