"""Which operator role a user holds, and giving one: the user page's "Role" choice.

A role is one of ROLES (accounts/roles.py), held as membership of its Django group. Giving a
role puts the user in exactly that role's group (other role groups are left, groups that are
no role are kept) and sets Staff status: without it the admin refuses the login, whatever
the groups allow. Taking the role away (None) leaves Staff status as it was: whoever took it
away sees that box on the same page and decides.

Each change is announced with `role_changed` inside the transaction that makes it;
resilience records it in the audit trail (accounts imports nothing above it).
"""

from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.dispatch import Signal

from accounts.roles import ROLES

# Sent with user, actor, via, before and after (role names, None for no role).
role_changed = Signal()


class RoleError(ValueError):
    pass


def _first_role(group_names: set[str]) -> str | None:
    # Someone may have put a user in two role groups by hand: the first of ROLES counts.
    return next((role for role in ROLES if role in group_names), None)


def user_role(user: AbstractUser) -> str | None:
    """The role the user holds (reads `user.groups.all()`, so a prefetch serves it)."""
    return _first_role({group.name for group in user.groups.all()})


def user_role_set(*, user: AbstractUser, role: str | None, actor: AbstractUser | None,
                  via: str = "admin") -> bool:
    """Give `user` the role `role` (None: no role); True when something changed."""
    if role is not None and role not in ROLES:
        raise RoleError(f"Unknown role {role!r}: one of {', '.join(ROLES)} or none.")
    with transaction.atomic():
        held = list(user.groups.filter(name__in=ROLES))
        before = _first_role({group.name for group in held})
        others = [group for group in held if group.name != role]
        user.groups.remove(*others)
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
            if not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
        changed = bool(others) or (role is not None and role not in {g.name for g in held})
        if changed:
            role_changed.send(sender=user.__class__, user=user, actor=actor, via=via,
                              before=before, after=role)
    return changed
