"""Django's user admin with a "Role" choice on the add and change pages.

The role (None, or one of ROLES) is given by `user_role_set`, which also sets Staff status,
so an operator made here can log in. The Groups box lists only groups that are no role, so
the two cannot disagree. Only superusers may change a role: anyone else with
auth.change_user sees it read-only.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.role_assignment import user_role, user_role_set
from accounts.roles import ROLES

ROLE_HELP = (
    "Viewer sees everything operators look at; Triager also triages groups, forces circuits, "
    "replays dead letters, resends alerts, makes silences and runs recovery now. A role also "
    "sets Staff status (needed to log in). None takes the role away and leaves Staff status "
    "as ticked below."
)


def role_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", "None"), *((role, role) for role in ROLES)], required=False,
        help_text=ROLE_HELP,
    )


class RoleChangeForm(UserChangeForm):
    role = role_field()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "role" in self.fields:  # read-only (so not in the form) for non-superusers
            self.fields["role"].initial = user_role(self.instance) or ""
        if "groups" in self.fields:
            self.fields["groups"].queryset = Group.objects.exclude(name__in=ROLES)
            self.fields["groups"].help_text = "Groups besides the role (chosen above)."

    def clean_groups(self):
        # The role groups are not in the box; saving it must not drop the one held. The role
        # choice changes it afterwards (RoleUserAdmin.save_related).
        held = self.instance.groups.filter(name__in=ROLES) if self.instance.pk else []
        return [*self.cleaned_data["groups"], *held]


class RoleCreationForm(AdminUserCreationForm):
    role = role_field()


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class RoleUserAdmin(UserAdmin):
    form = RoleChangeForm
    add_form = RoleCreationForm
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "role")
    add_fieldsets = (
        (None, {
            "classes": ("wide",),
            "fields": ("username", "usable_password", "password1", "password2", "role"),
        }),
    )

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return self.add_fieldsets
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = options["fields"]
            if "is_active" in fields:
                fields = ("role", *fields)
            fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else (*readonly, "role")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Role")
    def role(self, obj) -> str:
        return (user_role(obj) if obj.pk else None) or "—"

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if "role" in form.cleaned_data:  # not for non-superusers: read-only, not in the form
            user_role_set(user=form.instance, role=form.cleaned_data["role"] or None,
                          actor=request.user)
