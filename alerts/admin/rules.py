"""Alert rules: superusers edit them; the levels are ticked, not typed."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from alerts.models import LEVEL_CHOICES, AlertRule

from .common import audit


class AlertRuleForm(forms.ModelForm):
    levels = forms.MultipleChoiceField(
        choices=LEVEL_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Exactly these levels. Leave all unticked to use the minimum level instead "
        "(or neither, for every level).",
    )

    class Meta:
        model = AlertRule
        fields = ("name", "enabled", "note", "min_level", "levels", "category", "service",
                  "operation", "environment", "channels", "throttle_minutes", "threshold_count",
                  "threshold_minutes")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "enabled", "level_display", "matchers", "channel_list",
                    "throttle_minutes", "threshold")
    list_filter = ("enabled",)
    search_fields = ("name", "operation", "environment")
    filter_horizontal = ("channels",)
    fieldsets = (
        (None, {"fields": ("name", "enabled", "note")}),
        ("Level", {"fields": ("min_level", "levels")}),
        ("Match (empty = any)", {"fields": ("category", "service", "operation", "environment")}),
        ("Where and how often", {"fields": ("channels", "throttle_minutes",
                                            ("threshold_count", "threshold_minutes"))}),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("service").prefetch_related(
            "channels")

    @admin.display(description="level")
    def level_display(self, obj: AlertRule) -> str:
        if obj.levels:
            return ", ".join(obj.levels)
        return f"{obj.min_level} and above" if obj.min_level else "any"

    @admin.display(description="matching")
    def matchers(self, obj: AlertRule) -> str:
        parts = [f"{label}={value}" for label, value in (
            ("category", obj.category), ("service", obj.service), ("operation", obj.operation),
            ("environment", obj.environment)) if value]
        return ", ".join(str(p) for p in parts) or "anything"

    @admin.display(description="channels")
    def channel_list(self, obj: AlertRule) -> str:
        names = [c.name for c in obj.channels.all()]
        return ", ".join(names) or "none (log only)"

    @admin.display(description="N in M min")
    def threshold(self, obj: AlertRule) -> str:
        if obj.threshold_count and obj.threshold_minutes:
            return f"{obj.threshold_count} in {obj.threshold_minutes}"
        return "—"

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        rule = form.instance
        audit(request, "alert_rule.change" if change else "alert_rule.add", rule, "alert_rule",
              {"name": rule.name, "changed": form.changed_data,
               "channels": [c.name for c in rule.channels.all()]})

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        audit(request, "alert_rule.delete", obj, "alert_rule", {"name": obj.name})
        super().delete_model(request, obj)
