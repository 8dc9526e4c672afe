"""Channels: superusers configure them; everyone with the view permission sees their
last delivery and last error. The webhook secret is write-only, the URL masked for
viewers (a Slack incoming-webhook URL is itself a credential)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from alerts.models import Channel
from alerts.services.delivery import channel_send_test
from resilience.admin.display import EMPTY, pre

from .common import audit


class ChannelForm(forms.ModelForm):
    url = forms.URLField(
        required=False, max_length=500, assume_scheme="https",
        help_text=f"{Channel._meta.get_field('url').help_text}. Public addresses only, unless "
        "FAULTLINE_OUTBOUND_ALLOWED_NETWORKS or FAULTLINE_OUTBOUND_ALLOW_PRIVATE allows it "
        "(checked on save and on every send).",
    )
    secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Webhook: the HMAC-SHA256 signing key. Write-only: leave empty to keep "
        "the current one.",
    )

    class Meta:
        model = Channel
        fields = ("name", "kind", "recipients", "url", "secret", "enabled", "disabled_reason")

    def clean_secret(self) -> str:
        # Empty means "unchanged": the stored secret is never sent back to the browser.
        return self.cleaned_data.get("secret") or (self.instance.secret if self.instance else "")


class FailingFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("failing", "Last attempt failed"), ("disabled", "Disabled")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "failing":
            return queryset.filter(last_error_at__isnull=False).filter(
                Q(last_delivery_at__isnull=True) | Q(last_error_at__gt=F("last_delivery_at")))
        if self.value() == "disabled":
            return queryset.filter(enabled=False)
        return queryset


def _masked(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else EMPTY


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ("name", "kind", "state", "last_delivery_at", "last_error_at",
                    "short_error", "last_duration_ms")
    list_filter = ("kind", FailingFilter)
    search_fields = ("name",)
    actions = ["send_test_alert"]
    readonly_fields = ("last_delivery_at", "last_error_at", "last_error_text", "last_duration_ms",
                       "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj=None):
        if self.has_change_permission(request, obj):
            return (*ChannelForm.Meta.fields, *self.readonly_fields)
        return ("name", "kind", "recipients", "masked_url", "has_secret", "enabled",
                "disabled_reason", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if self.has_change_permission(request, obj):
            return self.readonly_fields
        return self.get_fields(request, obj)

    @admin.display(description="URL")
    def masked_url(self, obj: Channel) -> str:
        return _masked(obj.url)

    @admin.display(description="secret set", boolean=True)
    def has_secret(self, obj: Channel) -> bool:
        return bool(obj.secret)

    @admin.display(description="state")
    def state(self, obj: Channel):
        if obj.enabled:
            return format_html('<span style="color:#1a7f37">enabled</span>')
        return format_html('<span style="color:#b35900">disabled</span>: {}',
                           obj.disabled_reason or "—")

    @admin.display(description="last error")
    def short_error(self, obj: Channel) -> str:
        text = obj.last_error or EMPTY
        return (text[:80] + "…") if len(text) > 80 else text

    @admin.display(description="last error")
    def last_error_text(self, obj: Channel):
        return pre(obj.last_error)

    def save_model(self, request: HttpRequest, obj: Channel, form, change: bool) -> None:
        if obj.enabled:
            obj.disabled_reason = ""
        elif not obj.disabled_reason:
            obj.disabled_reason = f"disabled by {request.user.get_username()}"
        super().save_model(request, obj, form, change)
        changed = [f for f in form.changed_data if f != "secret"]
        detail = {"name": obj.name, "kind": obj.kind, "enabled": obj.enabled,
                  "changed": changed, "secret_changed": "secret" in form.changed_data}
        audit(request, "alert_channel.change" if change else "alert_channel.add", obj,
              "alert_channel", detail)

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        audit(request, "alert_channel.delete", obj, "alert_channel", {"name": obj.name})
        super().delete_model(request, obj)

    def has_test_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("alerts.change_channel")

    @admin.action(description="Send test alert", permissions=["test"])
    def send_test_alert(self, request: HttpRequest, queryset: QuerySet) -> None:
        for channel in queryset:
            delivery = channel_send_test(channel=channel, actor=request.user, via="admin")
            audit(request, "alert_channel.test_requested", channel, "alert_channel",
                  {"delivery": delivery.pk}, log_message="Sent a test alert (admin action)")
            if delivery.status == delivery.Status.PENDING:
                self.message_user(request, f"Test alert queued for {channel.name} (delivery "
                                  f"#{delivery.pk}); see Alert deliveries for the outcome.")
            else:
                self.message_user(request, f"{channel.name}: {delivery.error}", messages.WARNING)
