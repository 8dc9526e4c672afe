"""The Viewer and Triager roles (accounts/roles.py, granted after migrate)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import ErrorGroupFactory, ErrorLogEntryFactory

pytestmark = pytest.mark.django_db

MODELS = (
    "service",
    "servicekey",
    "classificationrule",
    "errorgroup",
    "grouphistory",
    "errorlogentry",
    "errormetric",
    "circuitstate",
    "circuittransition",
    "deadletter",
    "deadletterattempt",
    "replaytarget",
    "auditevent",
    "deferredwrite",
    "eventattachment",
    "userfeedback",
)
TRIAGE = {"change_errorgroup", "triage_errorgroup", "force_circuitstate", "replay_deadletter"}


def codenames(role: str) -> set[str]:
    # This app's permissions; other apps grant their own (tests/alerts/test_admin.py).
    return set(Group.objects.get(name=role).permissions.filter(
        content_type__app_label="resilience").values_list("codename", flat=True))


def test_a_viewer_may_only_view():
    assert codenames("Viewer") == {f"view_{model}" for model in MODELS}


def test_a_triager_may_view_change_groups_and_triage():
    expected = {f"view_{model}" for model in MODELS} | TRIAGE
    assert codenames("Triager") == expected


@pytest.mark.parametrize("role", ["Viewer", "Triager"])
def test_no_role_adds_deletes_or_manages_keys(role):
    granted = codenames(role)
    assert not {c for c in granted if c.startswith(("add_", "delete_"))}
    assert not {c for c in granted if c.endswith("servicekey") and not c.startswith("view_")}


def test_the_users_hold_their_permissions(viewer, triager):
    assert triager.has_perm("resilience.triage_errorgroup")
    assert triager.has_perm("resilience.change_errorgroup")
    assert not viewer.has_perm("resilience.triage_errorgroup")
    assert not viewer.has_perm("resilience.change_errorgroup")
    assert viewer.has_perm("resilience.view_errorlogentry")


@pytest.mark.parametrize(
    "name", ["errorgroup", "errorlogentry", "grouphistory", "service", "servicekey", "errormetric"]
)
@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_operators_reach_every_changelist(client, request, user, name):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse(f"admin:resilience_{name}_changelist")).status_code == 200


@pytest.mark.parametrize("user", ["viewer", "triager"])
def test_operators_cannot_add_or_delete_groups_or_entries(client, request, user):
    group = ErrorGroupFactory()
    entry = ErrorLogEntryFactory(group=group, service=group.service)
    client.force_login(request.getfixturevalue(user))
    for name, obj in (("errorgroup", group), ("errorlogentry", entry)):
        assert client.get(reverse(f"admin:resilience_{name}_add")).status_code == 403
        delete = reverse(f"admin:resilience_{name}_delete", args=[obj.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
    assert group.__class__.objects.filter(pk=group.pk).exists()
    assert entry.__class__.objects.filter(pk=entry.pk).exists()


def test_the_index_shows_a_viewer_no_add_links(client, viewer):
    client.force_login(viewer)
    content = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:resilience_errorgroup_changelist") in content
    assert reverse("admin:resilience_errorgroup_add") not in content
    assert reverse("admin:resilience_errorlogentry_add") not in content
