"""`{% operator_warnings %}`: the banner of resilience/observability/operator_warnings.py,
rendered on the admin home and the dashboard for the signed-in operator."""

from typing import Any

from django import template

from resilience.observability.operator_warnings import operator_warnings as warnings_for

register = template.Library()


@register.inclusion_tag("admin/operator_warnings.html", takes_context=True)
def operator_warnings(context: template.Context) -> dict[str, Any]:
    return {"warnings": warnings_for(user=context["request"].user)}
