"""Shared by the role migrations: grant resilience permissions to the operator groups.

(The migration loader skips modules whose name starts with an underscore.)
"""

from django.contrib.auth.management import create_permissions


def grant(apps, roles: dict[str, list[str]]) -> None:
    # Permissions are normally made by post_migrate, after every migration has run; make
    # them now so a migration can grant them on a fresh database.
    app_config = apps.get_app_config("resilience")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in roles.items():
        permissions = list(
            Permission.objects.filter(content_type__app_label="resilience", codename__in=codenames)
        )
        missing = set(codenames) - {p.codename for p in permissions}
        if missing:
            raise RuntimeError(f"{role}: permissions not found: {', '.join(sorted(missing))}")
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*permissions)


def revoke(apps, roles: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in roles.items():
        group = Group.objects.filter(name=role).first()
        if group:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="resilience", codename__in=codenames
                )
            )
