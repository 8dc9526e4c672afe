"""Operators' API tokens in the admin: made here (the raw token is shown once, in a
message), revoked here; only the prefix is ever shown again.

Everyone sees their own tokens; superusers see everyone's. Making a token for someone else
needs superuser: a token acts with all of its user's permissions.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.models import OperatorToken
from accounts.services import operator_token_create, operator_token_revoke


class OperatorTokenCreateForm(forms.ModelForm):
    class Meta:
        model = OperatorToken
        fields = ("user", "label")


@admin.register(OperatorToken)
class OperatorTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "label", "key_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__username", "label", "key_prefix")
    # key_hash is in no list: no page renders it.
    fields = ("user", "label", "key_prefix", ("created_at", "created_by"), "last_used_at",
              ("revoked_at", "revoked_by"))
    add_fields = ("user", "label")
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("user", "key_prefix", "created_at", "created_by", "last_used_at", "revoked_at",
                "revoked_by")

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = OperatorTokenCreateForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and not request.user.is_superuser:
            form.base_fields["user"].queryset = get_user_model().objects.filter(
                pk=request.user.pk
            )
        return form

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # revoke instead: the row stays as the record of the token

    def save_model(self, request: HttpRequest, obj: OperatorToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw_token = operator_token_create(
            user=obj.user, label=obj.label, created_by=request.user
        )
        # The admin goes on to log and redirect with `obj`; make it the created row.
        obj.pk = token.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.success(
            request,
            format_html(
                "New API token for {} ({}): <code>{}</code> — copy it now, it is not shown "
                "again. Use it as <code>Authorization: Token …</code>.",
                token.user.get_username(), token.label, raw_token,
            ),
        )

    @admin.action(description="Revoke", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = 0
        for token in queryset.select_related("user").filter(revoked_at=None):
            operator_token_revoke(token=token, actor=request.user)
            self.log_change(request, token, "Revoked (admin action)")
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")
