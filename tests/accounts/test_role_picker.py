"""The user page's Role choice (accounts/admin/users.py, accounts/role_assignment.py)."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from accounts.role_assignment import RoleError, user_role, user_role_set
from resilience.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-operator-password-7"


def change_form(user: User, **changes) -> dict:
    """The change page's fields as the browser would post them, with `changes`."""
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "on", "last_login_0": "", "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "role": user_role(user) or "",
        "groups": [g.pk for g in user.groups.exclude(name__in=["Viewer", "Triager"])],
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_viewer_added_on_the_user_page_can_log_in(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:auth_user_add"), {
        "username": "vera", "usable_password": "true", "password1": PASSWORD,
        "password2": PASSWORD, "role": "Viewer"})
    assert response.status_code == 302, response.content
    vera = User.objects.get(username="vera")
    assert vera.is_staff and user_role(vera) == "Viewer"

    operator = Client()
    login = operator.post(reverse("admin:login"), {"username": "vera", "password": PASSWORD})
    assert login.status_code == 302
    assert operator.get(reverse("admin:resilience_errorgroup_changelist")).status_code == 200


def test_changing_the_role_swaps_the_group_and_is_audited(client, admin_user, viewer):
    client.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[viewer.pk])
    assert client.get(url).context["adminform"].form["role"].value() == "Viewer"

    response = client.post(url, change_form(viewer, role="Triager"))
    assert response.status_code == 302, response.context["adminform"].form.errors

    assert set(viewer.groups.values_list("name", flat=True)) == {"Triager"}
    event = AuditEvent.objects.get(action="user.role_change")
    assert (event.actor, event.via, event.target_id) == (admin_user, "admin", str(viewer.pk))
    assert event.detail == {"username": "viewer", "before": "Viewer", "after": "Triager"}


def test_saving_the_page_unchanged_keeps_the_role_and_records_nothing(client, admin_user,
                                                                    triager):
    client.force_login(admin_user)
    client.post(reverse("admin:auth_user_change", args=[triager.pk]), change_form(triager))
    assert user_role(triager) == "Triager"
    assert not AuditEvent.objects.exists()


def test_a_role_sets_staff_status_even_if_the_box_was_left_empty(client, admin_user):
    nobody = User.objects.create_user("nobody", password=PASSWORD)
    client.force_login(admin_user)
    client.post(reverse("admin:auth_user_change", args=[nobody.pk]),
                change_form(nobody, role="Viewer", is_staff=None))
    nobody.refresh_from_db()
    assert nobody.is_staff and user_role(nobody) == "Viewer"


def test_none_takes_the_role_away_keeps_other_groups_and_staff_as_ticked(client, admin_user,
                                                                       triager):
    oncall = Group.objects.create(name="On call")
    triager.groups.add(oncall)
    client.force_login(admin_user)
    client.post(reverse("admin:auth_user_change", args=[triager.pk]),
                change_form(triager, role=""))
    triager.refresh_from_db()
    assert list(triager.groups.all()) == [oncall]
    assert triager.is_staff  # left as ticked on the page
    assert AuditEvent.objects.get().detail["after"] is None


def test_the_groups_box_offers_no_role_groups(client, admin_user, viewer):
    client.force_login(admin_user)
    page = client.get(reverse("admin:auth_user_change", args=[viewer.pk]))
    offered = {g.name for g in page.context["adminform"].form.fields["groups"].queryset}
    assert not offered & {"Viewer", "Triager"}


def test_only_superusers_change_roles(client, viewer):
    manager = User.objects.create_user("manager", password=PASSWORD, is_staff=True)
    manager.user_permissions.add(*_perms("view_user", "change_user"))
    client.force_login(manager)
    url = reverse("admin:auth_user_change", args=[viewer.pk])
    page = client.get(url)
    assert "role" not in page.context["adminform"].form.fields  # shown read-only
    assert "Viewer" in page.content.decode()
    client.post(url, change_form(viewer, role="Triager"))
    assert user_role(viewer) == "Viewer"
    assert not AuditEvent.objects.exists()


def test_a_viewer_may_not_open_the_user_pages(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_the_list_shows_each_users_role(client, admin_user, viewer, triager):
    client.force_login(admin_user)
    page = client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert '<td class="field-role">Viewer</td>' in page
    assert '<td class="field-role">Triager</td>' in page


def test_the_service_refuses_an_unknown_role(viewer):
    with pytest.raises(RoleError):
        user_role_set(user=viewer, role="Admin", actor=None)
    assert user_role(viewer) == "Viewer"


def _perms(*codenames: str):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type__app_label="auth", codename__in=codenames)
