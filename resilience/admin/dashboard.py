"""/admin/dashboard/: the metric dashboard for operators (Viewer and Triager).

The page is rendered with the figures already in it (headline numbers and tables work
without JavaScript); static/dashboard/dashboard.js draws the charts and refreshes
everything from /api/v1/metrics/ with the admin session. Registered in config/urls.py
before admin.site.urls, wrapped in admin.site.admin_view (staff login) and checked here
for `view_errormetric`.

The default range is the seed's 1h; the selector offers the presets (time_ranges.PRESETS)
and any other well-formed range given in the URL. A page does not answer 400: a range it
cannot read shows the seed's 1h with a note saying so.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse

from resilience.core.time_ranges import DEFAULT as DEFAULT_RANGE
from resilience.core.time_ranges import PRESETS
from resilience.groups.selectors import BadRange, parse_range
from resilience.models import Service
from resilience.observability.dashboard import Scope, metrics_summary_cached

PERMISSION = "resilience.view_errormetric"
REFRESH_SECONDS = 30


def dashboard_view(request: HttpRequest) -> TemplateResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    range_ = request.GET.get("range", DEFAULT_RANGE)
    range_note = ""
    try:
        parse_range(range_)
    except BadRange as exc:
        range_note = f"{exc}; showing {DEFAULT_RANGE}"
        range_ = DEFAULT_RANGE
    services = list(Service.objects.order_by("name").values("id", "slug", "name"))
    service_id = None
    if (value := request.GET.get("service", "")).isdigit():
        service_id = next((s["id"] for s in services if s["id"] == int(value)), None)
    summary = metrics_summary_cached(range_=range_, scope=Scope(service_id=service_id))
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "metrics": summary,
        "ranges": sorted({*PRESETS, range_}, key=parse_range),
        "range": range_,
        "range_note": range_note,
        "services": services,
        "service_id": service_id,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
