"""Classification rules: operators' overrides of the built-in code table, and the table
itself (read-only, with the seed's rows marked) so an operator sees what they override."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from resilience.core.classification import ADDED_CODE_TABLE, SEED_CODE_TABLE, severity_for
from resilience.models import ClassificationRule


class ClassificationRuleForm(forms.ModelForm):
    class Meta:
        model = ClassificationRule
        fields = ("code", "category", "severity", "enabled", "note")

    def clean_code(self) -> str:
        # A blank code would match nothing and only confuse the table.
        code = (self.cleaned_data.get("code") or "").strip()
        if not code:
            raise forms.ValidationError("Enter the error code, exception type or status.")
        return code


def default_table_rows(overrides: dict[str, ClassificationRule]) -> list[dict]:
    """The built-in table, seed rows first in the seed's order, then Faultline's additions."""
    rows = []
    for source, table in (("seed", SEED_CODE_TABLE), ("addition", ADDED_CODE_TABLE)):
        for code, category in table.items():
            rows.append({"code": code, "source": source, "category": category,
                         "severity": severity_for(category), "override": overrides.get(code)})
    return rows


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(admin.ModelAdmin):
    form = ClassificationRuleForm
    list_display = ("code", "category", "severity_shown", "enabled", "note", "updated_at")
    list_filter = ("enabled", "category", "severity")
    search_fields = ("code", "note")
    ordering = ("code",)

    @admin.display(description="Severity", ordering="severity")
    def severity_shown(self, obj: ClassificationRule) -> str:
        return obj.severity or f"{severity_for(obj.category)} (by category)"

    def get_urls(self):
        return [
            path("defaults/", self.admin_site.admin_view(self.defaults_view),
                 name="resilience_classificationrule_defaults"),
            *super().get_urls(),
        ]

    def defaults_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        overrides = {rule.code: rule for rule in ClassificationRule.objects.all()}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Built-in classification table",
            "rows": default_table_rows(overrides),
            "can_add": self.has_add_permission(request),
        }
        return TemplateResponse(request, "admin/resilience/classificationrule/defaults.html",
                                context)
