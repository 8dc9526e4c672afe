"""The circuit admin: the state at a glance (open ones first, each with its service),
editable settings, audited operator actions (force, reset, share)."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from resilience.circuits.services import circuit_permit, circuit_record_failure
from resilience.models import AuditEvent, CircuitState, CircuitTransition
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:resilience_circuitstate_changelist")
OP = "timer.execute"


def post_action(client, action: str, *circuits: CircuitState, confirm: bool = True):
    """The action as the changelist posts it, then (confirm) the confirmation page's POST."""
    data = {"action": action, "index": 0, "_selected_action": [c.pk for c in circuits]}
    if confirm:
        data = {"action": action, "_selected_action": [c.pk for c in circuits], "post": "yes"}
    return client.post(CHANGELIST, data, follow=True)


@pytest.fixture
def circuit(db, settings):
    settings.FAULTLINE = {**settings.FAULTLINE, "CIRCUIT_SETTINGS_CACHE_SECONDS": 0}
    for _ in range(5):
        circuit_record_failure(operation=OP)
    return CircuitState.objects.get(operation=OP)


def test_the_list_shows_state_as_a_badge_with_words_and_the_backend(client, triager, circuit):
    client.force_login(triager)
    page = client.get(CHANGELIST).content.decode()
    assert OP in page
    assert "Open</span>" in page  # the text, not only the colour
    assert "Live state:" in page
    filtered = client.get(CHANGELIST, {"state__exact": "CLOSED"}).content.decode()
    assert OP not in filtered


def test_the_change_page_shows_settings_in_effect_and_transitions(client, triager, circuit):
    client.force_login(triager)
    page = client.get(reverse("admin:resilience_circuitstate_change", args=[circuit.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "open after 5 failures within 60 s" in text
    assert "failure threshold reached within the window" in text  # the transition inline


def test_a_triager_forces_and_resets_and_each_is_audited(client, triager, circuit):
    client.force_login(triager)
    response = post_action(client, "force_closed", circuit)
    assert "Force closed: 1 circuit" in response.content.decode()
    assert circuit_permit(operation=OP).allowed
    post_action(client, "force_open", circuit)
    assert not circuit_permit(operation=OP).allowed
    response = post_action(client, "reset", circuit)
    assert "Reset: 1 circuit" in response.content.decode()
    circuit.refresh_from_db()
    assert circuit.state == "CLOSED" and circuit.changed_by == triager
    assert list(AuditEvent.objects.order_by("id").values_list("action", "actor")) == [
        ("circuit.force_closed", triager.pk),
        ("circuit.force_open", triager.pk),
        ("circuit.reset", triager.pk),
    ]
    assert CircuitTransition.objects.filter(actor=triager, via="admin").count() == 3
    messages = list(LogEntry.objects.filter(object_id=str(circuit.pk))
                    .values_list("change_message", flat=True))
    assert sorted(messages) == ["Force closed (admin action)", "Force open (admin action)",
                                "Reset (admin action)"]


def test_forcing_a_circuit_already_in_that_state_says_so(client, triager, circuit):
    client.force_login(triager)
    post_action(client, "force_open", circuit)
    response = post_action(client, "force_open", circuit)
    assert "1 already in that state" in response.content.decode()
    assert AuditEvent.objects.count() == 1


@pytest.mark.parametrize("action, question", [
    ("force_open", "Force these circuits open?"),
    ("force_closed", "Force these circuits closed?"),
    ("reset", "Reset these circuits?"),
])
def test_each_lever_asks_first_and_only_the_confirmation_acts(client, triager, circuit, action,
                                                              question):
    client.force_login(triager)
    page = post_action(client, action, circuit, confirm=False)
    html = page.content.decode()
    assert question in html and str(circuit) in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert f'<input type="hidden" name="action" value="{action}">' in html
    circuit.refresh_from_db()
    assert circuit.state == "OPEN" and not AuditEvent.objects.exists()
    post_action(client, action, circuit)
    assert AuditEvent.objects.get().action == f"circuit.{action}"


def test_a_viewer_is_not_even_asked(client, viewer, circuit):
    client.force_login(viewer)
    html = post_action(client, "force_open", circuit, confirm=False).content.decode()
    assert "Force these circuits open?" not in html
    assert not AuditEvent.objects.exists()


def test_a_viewer_sees_circuits_but_cannot_force_them(client, viewer, circuit):
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "force_open" not in page.content.decode()
    post_action(client, "force_closed", circuit)
    circuit.refresh_from_db()
    assert circuit.state == "OPEN"
    assert not AuditEvent.objects.exists()


def test_a_superuser_edits_the_settings_and_they_apply_at_once(admin_client, circuit):
    url = reverse("admin:resilience_circuitstate_change", args=[circuit.pk])
    rows = circuit.transitions.count()
    data = {"failure_threshold": "2", "window_seconds": "", "recovery_timeout_seconds": "0",
            "half_open_probes": "2", "probe_timeout_seconds": "",
            "transitions-TOTAL_FORMS": rows, "transitions-INITIAL_FORMS": rows}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    circuit.refresh_from_db()
    assert (circuit.failure_threshold, circuit.half_open_probes) == (2, 2)
    assert circuit.state == "OPEN" and circuit.version == 1  # the state is not touched
    # Recovery timeout 0: two probes may go at once now.
    assert [circuit_permit(operation=OP).allowed for _ in range(3)] == [True, True, False]
    bad = admin_client.post(url, {**data, "half_open_probes": "0"})
    assert bad.status_code == 200 and "Must be at least 1" in bad.content.decode()


def test_the_list_names_each_circuits_service_and_puts_open_ones_first(client, triager,
                                                                       circuit):
    service = factories.ServiceFactory(name="aaa-first-by-name")
    CircuitState.objects.create(service=service, operation="aaa.closed")
    client.force_login(triager)
    page = client.get(CHANGELIST).content.decode()
    assert page.index(OP) < page.index("aaa.closed")  # OPEN before CLOSED, whatever the name
    assert "aaa-first-by-name" in page and "Faultline (in-process)" in page
    only = client.get(CHANGELIST, {"service__id__exact": service.pk}).content.decode()
    assert "aaa.closed" in only and OP not in only


def test_a_triager_shares_a_circuit_with_every_service_and_it_is_audited(client, triager,
                                                                         circuit):
    client.force_login(triager)
    response = post_action(client, "share", circuit)
    assert "Share with every service: 1 circuit" in response.content.decode()
    circuit.refresh_from_db()
    assert circuit.shared
    other = factories.ServiceFactory()
    assert not circuit_permit(operation=OP, service_id=other.pk).allowed  # it reads it now
    rival = CircuitState.objects.create(service=other, operation=OP)
    refused = post_action(client, "share", rival).content.decode()
    assert "Not shared: another circuit for" in refused
    post_action(client, "unshare", circuit)
    assert circuit_permit(operation=OP, service_id=other.pk).allowed
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "circuit.share", "circuit.unshare"]


def test_a_viewer_cannot_share(client, viewer, circuit):
    client.force_login(viewer)
    post_action(client, "share", circuit)
    circuit.refresh_from_db()
    assert not circuit.shared


def test_an_operator_adds_a_circuit_for_a_service(admin_client, db):
    service = factories.ServiceFactory()
    response = admin_client.post(reverse("admin:resilience_circuitstate_add"), {
        "service": service.pk, "operation": "ledger.post", "failure_threshold": "2",
        "window_seconds": "", "recovery_timeout_seconds": "", "half_open_probes": "",
        "probe_timeout_seconds": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    row = CircuitState.objects.get(operation="ledger.post")
    assert (row.service, row.failure_threshold) == (service, 2)
    assert circuit_record_failure(operation="ledger.post", service_id=service.pk) == "CLOSED"
    assert circuit_record_failure(operation="ledger.post", service_id=service.pk) == "OPEN"
