"""/admin/dashboard/: the metric dashboard for operators (Viewer and Triager).

The page is rendered with the figures already in it (headline numbers and tables work
without JavaScript); static/dashboard/dashboard.js draws the charts and refreshes
everything from /api/v1/metrics/ with the admin session. Registered in config/urls.py
before admin.site.urls, wrapped in admin.site.admin_view (staff login) and checked here
for `view_errormetric`.

The default range is the seed's 1h; the selector offers the presets (time_ranges.PRESETS)
and any other well-formed range given in the URL. A page does not answer 400: a range it
cannot read shows the seed's 1h with a note saying so.

The headline cards link to the lists behind them (the error log over the range, the open
groups, the open circuits, the pending dead letters), for the operator who may open them;
static/dashboard/dashboard.js keeps their range and service in step with the selectors.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from resilience.core.time_ranges import DEFAULT as DEFAULT_RANGE
from resilience.core.time_ranges import PRESETS
from resilience.groups.selectors import BadRange, parse_range
from resilience.models import DeadLetter, ErrorGroup, Service
from resilience.observability.dashboard import Scope, metrics_summary_cached
from resilience.observability.operator_warnings import open_circuits_url

PERMISSION = "resilience.view_errormetric"
REFRESH_SECONDS = 30
# The admin lists' parameters the card links set: the time-range filter and the service.
RANGE_PARAM = "range"
SERVICE_PARAM = "service__id__exact"


def _list_url(model: str, query: dict[str, str], service_id: int | None) -> str:
    if service_id is not None:
        query = {**query, SERVICE_PARAM: str(service_id)}
    return f"{reverse(f'admin:resilience_{model}_changelist')}?{urlencode(query)}"


def card_links(request: HttpRequest, *, range_: str, service_id: int | None) -> dict[str, str]:
    """Each card's list, filtered as the card counts; a list the user cannot view gets none."""
    lists = {
        "total": ("errorlogentry", {RANGE_PARAM: range_}),
        "open_groups": ("errorgroup", {"status__exact": ErrorGroup.Status.OPEN}),
        "pending_dead_letters": ("deadletter", {"status__exact": DeadLetter.Status.PENDING}),
    }
    links = {
        card: _list_url(model, query, service_id)
        for card, (model, query) in lists.items()
        if request.user.has_perm(f"resilience.view_{model}")
    }
    if request.user.has_perm("resilience.view_circuitstate"):
        links["open_circuits"] = open_circuits_url()  # every service's, as the figure counts
    return links


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
        "links": card_links(request, range_=range_, service_id=service_id),
        "range_param": RANGE_PARAM,
        "service_param": SERVICE_PARAM,
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
