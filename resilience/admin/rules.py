"""Classification rules: operators' overrides of the built-in code table."""

from django import forms
from django.contrib import admin

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


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(admin.ModelAdmin):
    form = ClassificationRuleForm
    list_display = ("code", "category", "severity", "enabled", "note", "updated_at")
    list_filter = ("enabled", "category", "severity")
    search_fields = ("code", "note")
    ordering = ("code",)
