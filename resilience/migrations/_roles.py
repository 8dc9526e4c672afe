"""Shared by the role migrations of every app: grant an app's permissions to the operator
groups ("Viewer", "Triager"), or take them back.

(The migration loader skips modules whose name starts with an underscore.)
"""

from django.contrib.auth.management import create_permissions


def _permissions(apps, app_label: str, codenames: list[str]) -> list:
    Permission = apps.get_model("auth", "Permission")
    found = list(
        Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )
    missing = set(codenames) - {p.codename for p in found}
    if missing:
        raise RuntimeError(f"{app_label}: permissions not found: {', '.join(sorted(missing))}")
    return found


def grant(apps, roles: dict[str, list[str]], app_label: str = "resilience") -> None:
    # Permissions are normally made by post_migrate, after every migration has run; make
    # them now so a migration can grant them on a fresh database.
    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    for role, codenames in roles.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, app_label, codenames))


def revoke(apps, roles: dict[str, list[str]], app_label: str = "resilience") -> None:
    Group = apps.get_model("auth", "Group")
    for role, codenames in roles.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(*_permissions(apps, app_label, codenames))
