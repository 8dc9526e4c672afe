"""The operator roles are declared in accounts/roles.py and granted after migrate."""

from django.apps import apps
from django.contrib.auth.models import Group, Permission

from accounts.roles import ROLES, sync_roles


def _held(role: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name=role).permissions.select_related("content_type")}


def test_each_role_holds_exactly_what_the_table_says_after_migrate(db):
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for role, names in ROLES.items():
        assert _held(role) == set(names), role


def test_the_table_names_only_permissions_that_exist(db):
    for names in ROLES.values():
        for name in names:
            app_label, codename = name.split(".")
            assert Permission.objects.filter(content_type__app_label=app_label,
                                             codename=codename).exists(), name


def test_the_sync_grants_what_is_missing_and_keeps_what_an_operator_added(db):
    viewer = Group.objects.get(name="Viewer")
    viewer.permissions.remove(Permission.objects.get(codename="view_errorgroup"))
    extra = Permission.objects.get(content_type__app_label="accounts", codename="view_dsn")
    viewer.permissions.add(extra)

    sync_roles(apps=apps)
    sync_roles(apps=apps)  # idempotent

    assert _held("Viewer") == {*ROLES["Viewer"], "accounts.view_dsn"}
