"""Recovery runs in the admin: the history (read-only, filterable) and "Run now".

"Run now" needs the `run_recovery` permission (Triager). It first asks on a confirmation
page (GET run-now/?procedure=…; the "Run again" action likewise), and only the POST acts:
it writes an AuditEvent (`recovery.run_now`) and the admin's LogEntry, and queues the
procedure on the maintenance queue: a clean-up can take longer than a request should.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from recovery.models import RecoveryRun
from recovery.registry import ordered
from recovery.services import RUN_PERMISSION, UnknownProcedure, procedure_run_request
from resilience.admin.base import ReadOnlyAdmin
from resilience.admin.confirmation import confirm_first, confirmation_page

RUN_QUESTION = (
    "Run this procedure now? It is queued on the maintenance queue and acts on live data "
    "as its scheduled run would (a clean-up deletes what is past its retention)."
)
RUN_AGAIN_QUESTION = (
    "Run these procedures again now? Each is queued on the maintenance queue and acts on "
    "live data as its scheduled run would (a clean-up deletes what is past its retention)."
)


class ProcedureFilter(admin.SimpleListFilter):
    title = "procedure"
    parameter_name = "procedure"

    def lookups(self, request, model_admin):
        return [(p.name, p.name) for p in ordered()]

    def queryset(self, request, queryset):
        return queryset.filter(procedure=self.value()) if self.value() else queryset


@admin.register(RecoveryRun)
class RecoveryRunAdmin(ReadOnlyAdmin):
    list_display = ("procedure", "started_at", "duration", "outcome", "summary", "via", "actor")
    list_filter = (ProcedureFilter, "outcome", "via", "started_at")
    date_hierarchy = "started_at"
    list_select_related = ("actor",)
    fields = ("procedure", "started_at", "finished_at", "outcome", "via", "actor",
              "changed_pretty", "error")
    readonly_fields = fields
    actions = ["run_again"]

    @admin.display(description="duration")
    def duration(self, run: RecoveryRun) -> str:
        seconds = run.duration_seconds
        return "—" if seconds is None else f"{seconds:.2f} s"

    @admin.display(description="changed")
    def summary(self, run: RecoveryRun) -> str:
        text = ", ".join(f"{k}={v}" for k, v in run.changed.items()
                         if isinstance(v, int | str) and not k.endswith("ids"))
        if run.error:
            text = (text + " — " if text else "") + run.error.splitlines()[0]
        return text[:200]

    @admin.display(description="changed")
    def changed_pretty(self, run: RecoveryRun):
        return format_html("<pre>{}</pre>", json.dumps(run.changed, indent=2, sort_keys=True))

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_PERMISSION)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        latest = dict(RecoveryRun.objects.values_list("procedure").annotate(at=Max("started_at")))
        last_runs = {
            run.procedure: run for run in RecoveryRun.objects.filter(
                procedure__in=list(latest), started_at__in=list(latest.values()))
        }
        extra_context = {
            **(extra_context or {}),
            "procedures": [{"name": p.name, "group": p.group, "description": p.description,
                            "last": last_runs.get(p.name)} for p in ordered()],
            "can_run": self.has_run_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path("run-now/", self.admin_site.admin_view(self.run_now_view),
                 name="recovery_recoveryrun_run_now"),
            *super().get_urls(),
        ]

    def _request(self, request: HttpRequest, name: str) -> bool:
        try:
            procedure_run_request(name=name, actor=request.user, via="admin")
        except UnknownProcedure as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        except Exception as exc:  # noqa: BLE001 - the broker is down: say so
            self.message_user(request, f"Could not queue {name}: {exc}", messages.ERROR)
            return False
        LogEntry.objects.create(
            user_id=request.user.pk,
            content_type_id=ContentType.objects.get_for_model(RecoveryRun).pk,
            object_id="", object_repr=f"Run now: {name}"[:200], action_flag=CHANGE,
            change_message=f"Run now: {name}",
        )
        return True

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_run_permission(request):
            raise PermissionDenied
        if request.method == "GET":
            return self._run_now_confirmation(request, request.GET.get("procedure", ""))
        name = request.POST.get("procedure", "")
        if self._request(request, name):
            self.message_user(request, f"{name} is queued; its run appears here when it ends.",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:recovery_recoveryrun_changelist"))

    def _run_now_confirmation(self, request: HttpRequest, name: str) -> HttpResponse:
        if name not in {p.name for p in ordered()}:
            self.message_user(request, f"Unknown procedure: {name!r}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:recovery_recoveryrun_changelist"))
        return confirmation_page(
            request, modeladmin=self, title=f"Run {name} now: are you sure?",
            question=RUN_QUESTION, items=[name], hidden=[("procedure", name)],
            confirm_label=f"Yes, run {name} now",
        )

    @confirm_first(RUN_AGAIN_QUESTION, describe=lambda runs: sorted(
        set(runs.values_list("procedure", flat=True))))
    @admin.action(description="Run these procedures again now", permissions=["run"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[RecoveryRun]) -> None:
        names = sorted(set(queryset.values_list("procedure", flat=True)))
        queued = [name for name in names if self._request(request, name)]
        if queued:
            self.message_user(request, f"Queued: {', '.join(queued)}.", messages.SUCCESS)
