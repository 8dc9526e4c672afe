"""Dead letters and replay targets: where operators see what failed, grouped by cause, and
replay, edit and replay, discard or purge it.

Every action checks its permission (replay_deadletter: replay, edit and replay, discard;
purge_deadletter: purge) here and again in the service, and leaves both an AuditEvent
(written by the service) and the admin's own LogEntry.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from resilience.admin.base import ReadOnlyTabularInline
from resilience.core import safe_json
from resilience.dead_letters.replay import (
    ReplayRequest,
    dead_letter_replay_one_request,
    dead_letter_replay_request,
)
from resilience.dead_letters.services import (
    PURGE_PERMISSION,
    REPLAY_PERMISSION,
    DeadLetterError,
    dead_letter_edit,
    dead_letter_purge,
    dead_letters_discard,
    purgeable,
)
from resilience.models import DeadLetter, DeadLetterAttempt, ReplayTarget

from .display import EMPTY, admin_link, pre, pretty_json
from .filters import distinct_values_filter

Status = DeadLetter.Status
SUMMARY_ROWS = 25
# A group replay can name many rows: the AuditEvent holds the filter and the count, and
# the admin's per-object history gets at most this many LogEntries.
LOG_ENTRIES_CAP = 1000


class AttemptInline(ReadOnlyTabularInline):
    model = DeadLetterAttempt
    fields = ("started_at", "finished_at", "outcome", "response_status", "error", "actor", "via")
    readonly_fields = fields
    max_num = 0
    ordering = ("-started_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("actor")


class EditPayloadForm(forms.Form):
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}),
        help_text="JSON. The original payload is kept; replays send this one.",
    )

    def clean_payload(self):
        text = self.cleaned_data["payload"]
        # The API's reader: bounded depth, no NaN, no \u0000 PostgreSQL would refuse.
        try:
            return safe_json.loads(text.encode())
        except safe_json.UnsafeJSON as exc:
            syntax = str(exc).removeprefix("is not valid JSON: ")
            raise forms.ValidationError(
                f"Not valid JSON: {syntax}." if syntax != str(exc) else f"The payload {exc}."
            ) from None


def _replay_message(request: ReplayRequest) -> str:
    text = f"Replay queued for {request.queued} dead letter{'s' if request.queued != 1 else ''}"
    if request.without_target:
        text += f"; {request.without_target} left alone: no enabled replay target for their " \
                "service and operation"
    return text


def _log(request: HttpRequest, queryset: QuerySet, message: str) -> None:
    rows = queryset.only("id", "operation", "reason").order_by("id")[:LOG_ENTRIES_CAP]
    LogEntry.objects.log_actions(request.user.pk, rows, CHANGE, message)


def _replay_action(description: str, *, force: bool):
    @admin.action(description=description, permissions=["replay"])
    def action(modeladmin: "DeadLetterAdmin", request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.order_by("id").values_list("id", flat=True))
        try:
            queued = dead_letter_replay_request(
                filters={"ids": ids}, actor=request.user, via="admin", force=force
            )
        except DeadLetterError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return
        if not queued.matched:
            modeladmin.message_user(
                request, "Nothing to replay: the selection holds no pending or failed dead "
                "letters" + ("" if force else " (use 'Replay again' for replayed ones)"),
                messages.WARNING,
            )
            return
        _log(request, DeadLetter.objects.filter(id__in=ids), f"{description} (admin action)")
        level = messages.WARNING if queued.without_target else messages.SUCCESS
        modeladmin.message_user(request, _replay_message(queued), level)

    action.__name__ = "replay_force" if force else "replay"
    return action


@admin.action(description="Discard", permissions=["replay"])
def discard(modeladmin: "DeadLetterAdmin", request: HttpRequest, queryset: QuerySet) -> None:
    ids = dead_letters_discard(dead_letters=queryset, actor=request.user, via="admin")
    if ids:
        _log(request, DeadLetter.objects.filter(id__in=ids), "Discarded (admin action)")
    skipped = len(queryset) - len(ids)
    text = f"Discarded {len(ids)} dead letter{'s' if len(ids) != 1 else ''}"
    if skipped:
        text += f" ({skipped} already discarded or being replayed)"
    modeladmin.message_user(request, text, messages.SUCCESS)


@admin.action(description="Purge (delete for good; discarded and replayed only)",
              permissions=["purge"])
def purge(modeladmin: "DeadLetterAdmin", request: HttpRequest, queryset: QuerySet) -> None:
    selected = list(queryset.values_list("id", flat=True))
    with transaction.atomic():
        doomed = purgeable(ids=selected)
        modeladmin.log_deletions(request, doomed)
        result = dead_letter_purge(actor=request.user, via="admin", ids=selected)
    text = f"Purged {result.count} dead letter{'s' if result.count != 1 else ''}"
    if len(selected) > result.count:
        text += f"; {len(selected) - result.count} kept (only discarded or replayed ones go)"
    modeladmin.message_user(request, text, messages.SUCCESS)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("id", "operation", "short_reason", "status", "category", "service",
                    "replay_count", "attempt_count", "last_failed_at", "created_at")
    list_display_links = ("id", "operation")
    list_filter = ("status", distinct_values_filter("operation", "operation"), "category",
                   "service")
    search_fields = ("reason", "operation", "=replay_key")
    search_help_text = "Words in the reason or operation, or an exact replay key."
    list_select_related = ("service",)
    ordering = ("-id",)
    show_full_result_count = False
    actions = (_replay_action("Replay (queue)", force=False),
               _replay_action("Replay again, including already replayed", force=True),
               discard, purge)
    inlines = (AttemptInline,)
    fieldsets = (
        (None, {"fields": (
            ("service", "operation"),
            ("status", "category"),
            "reason_block",
            ("attempt_count", "first_failed_at", "last_failed_at"),
            ("entry_link", "created_at"),
            "edit_and_replay_link",
        )}),
        ("Payload", {"fields": ("payloads", "headers_block")}),
        ("Replay", {"fields": (
            "replay_key",
            ("replay_count", "last_replay_at", "next_replay_at"),
            "last_replay_error_block",
            ("replayed_by", "replayed_at"),
            ("edited_by", "edited_at"),
            ("discarded_by", "discarded_at"),
        )}),
    )
    readonly_fields = (
        "service", "operation", "status", "category", "reason_block", "attempt_count",
        "first_failed_at", "last_failed_at", "entry_link", "created_at", "edit_and_replay_link",
        "payloads", "headers_block", "replay_key", "replay_count", "last_replay_at",
        "next_replay_at", "last_replay_error_block", "replayed_by", "replayed_at",
        "edited_by", "edited_at", "discarded_by", "discarded_at",
    )

    # --- permissions ----------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the digest, the API and the guard

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the page is a read-only record; changes go through the actions

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # nothing is deleted silently: Purge is the (audited) way

    def has_replay_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(REPLAY_PERMISSION)

    def has_purge_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm(PURGE_PERMISSION)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if self.has_replay_permission(request):
            return self.fieldsets
        # No "Edit and replay" button for those it would answer 403 (Viewers).
        return [(name, {**options, "fields": tuple(
                    field for field in options["fields"] if field != "edit_and_replay_link")})
                for name, options in self.fieldsets]

    # --- the list, grouped by cause -----------------------------------------------------------

    @admin.display(description="Reason")
    def short_reason(self, obj: DeadLetter) -> str:
        reason = obj.reason or EMPTY
        return reason if len(reason) <= 80 else reason[:79] + "…"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["summary"] = self.summary(context["cl"].queryset)
            context["can_replay"] = self.has_replay_permission(request)
            context["can_purge"] = self.has_purge_permission(request)
        return response

    def summary(self, queryset: QuerySet) -> list[dict]:
        """The filtered dead letters grouped by (operation, reason): one GROUP BY."""
        def per(status: str) -> Count:
            return Count("id", filter=Q(status=status))

        return list(
            queryset.order_by()
            .values("operation", "reason")
            .annotate(total=Count("id"), pending=per(Status.PENDING), failed=per(Status.FAILED),
                      replaying=per(Status.REPLAYING), replayed=per(Status.REPLAYED),
                      discarded=per(Status.DISCARDED), last_failed=Max("last_failed_at"))
            .order_by("-total", "operation")[:SUMMARY_ROWS]
        )

    # --- the change page, readably -------------------------------------------------------

    @admin.display(description="Reason")
    def reason_block(self, obj: DeadLetter) -> SafeString | str:
        return pre(obj.reason)

    @admin.display(description="Entry")
    def entry_link(self, obj: DeadLetter) -> SafeString | str:
        return admin_link(obj.entry, f"#{obj.entry_id}") if obj.entry_id else EMPTY

    @admin.display(description="Payload (original | edited)")
    def payloads(self, obj: DeadLetter) -> SafeString:
        edited = (pretty_json(obj.edited_payload) if obj.edited_payload is not None
                  else "not edited")
        return format_html(
            '<div style="display: flex; gap: 1em; flex-wrap: wrap">'
            '<div style="flex: 1; min-width: 20em"><strong>Original</strong>{}</div>'
            '<div style="flex: 1; min-width: 20em"><strong>Edited</strong>{}</div></div>',
            pretty_json(obj.payload) if obj.payload is not None else format_html("<p>null</p>"),
            edited,
        )

    @admin.display(description="Headers")
    def headers_block(self, obj: DeadLetter) -> SafeString | str:
        return pretty_json(obj.headers)

    @admin.display(description="Last replay error")
    def last_replay_error_block(self, obj: DeadLetter) -> SafeString | str:
        return pre(obj.last_replay_error)

    @admin.display(description="")
    def edit_and_replay_link(self, obj: DeadLetter) -> SafeString | str:
        if obj.status == Status.DISCARDED:
            return "Discarded: kept for the record until purged."
        url = reverse("admin:resilience_deadletter_edit_and_replay", args=[obj.pk])
        return format_html('<a class="button" href="{}">Edit and replay</a>', url)

    # --- custom pages ------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/edit-and-replay/", wrap(self.edit_and_replay_view),
                 name="resilience_deadletter_edit_and_replay"),
            path("replay-group/", wrap(self.replay_group_view),
                 name="resilience_deadletter_replay_group"),
            path("purge-settled/", wrap(self.purge_settled_view),
                 name="resilience_deadletter_purge_settled"),
            *super().get_urls(),
        ]

    def _changelist_url(self) -> str:
        return reverse("admin:resilience_deadletter_changelist")

    def edit_and_replay_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_replay_permission(request):
            raise PermissionDenied
        dead_letter = get_object_or_404(DeadLetter.objects.select_related("service"), pk=pk)
        change_url = reverse("admin:resilience_deadletter_change", args=[pk])
        if request.method == "POST":
            form = EditPayloadForm(request.POST)
            if form.is_valid():
                return self._edit_and_replay(request, dead_letter, form, change_url)
        else:
            current = dead_letter.replay_payload
            form = EditPayloadForm(initial={
                "payload": json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False)
            })
        context = {
            **self.admin_site.each_context(request),
            "title": f"Edit and replay dead letter #{dead_letter.pk}",
            "opts": self.model._meta,
            "original": dead_letter,
            "form": form,
            "original_payload": pretty_json(dead_letter.payload),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/resilience/deadletter/edit_and_replay.html",
                                context)

    def _edit_and_replay(
        self, request: HttpRequest, dead_letter: DeadLetter, form: EditPayloadForm,
        change_url: str,
    ) -> HttpResponse:
        try:
            dead_letter_edit(dead_letter=dead_letter, payload=form.cleaned_data["payload"],
                             actor=request.user, via="admin")
        except DeadLetterError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(change_url)
        self.log_change(request, dead_letter, "Edited the payload (edit and replay)")
        try:
            queued = dead_letter_replay_one_request(
                dead_letter=dead_letter, actor=request.user, via="admin", force=True
            )
        except DeadLetterError as exc:
            self.message_user(request, f"Payload saved, but not replayed: {exc.message}",
                              messages.WARNING)
        else:
            self.log_change(request, dead_letter, "Replay queued (edit and replay)")
            self.message_user(request, _replay_message(queued), messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def replay_group_view(self, request: HttpRequest) -> HttpResponse:
        """Replay every pending or failed dead letter with one (operation, reason)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_replay_permission(request):
            raise PermissionDenied
        filters = {"operation": request.POST.get("operation", ""),
                   "reason": request.POST.get("reason", "")}
        try:
            queued = dead_letter_replay_request(filters=filters, actor=request.user, via="admin")
        except DeadLetterError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            if queued.matched:
                group = DeadLetter.objects.filter(
                    **filters, status__in=[Status.PENDING, Status.FAILED]
                )
                _log(request, group, f"Replay queued (group {filters['operation']})")
                level = messages.WARNING if queued.without_target else messages.SUCCESS
                self.message_user(request, _replay_message(queued), level)
            else:
                self.message_user(request, "Nothing to replay in that group.", messages.WARNING)
        return HttpResponseRedirect(self._changelist_url())

    def purge_settled_view(self, request: HttpRequest) -> HttpResponse:
        """Purge discarded and replayed dead letters settled more than N days ago."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_purge_permission(request):
            raise PermissionDenied
        try:
            days = int(request.POST.get("older_than_days", ""))
            if days < 0:
                raise ValueError
        except ValueError:
            self.message_user(request, "Give a number of days (0 or more).", messages.ERROR)
            return HttpResponseRedirect(self._changelist_url())
        with transaction.atomic():
            self.log_deletions(request, purgeable(older_than_days=days))
            result = dead_letter_purge(actor=request.user, via="admin", older_than_days=days)
        self.message_user(
            request, f"Purged {result.count} discarded or replayed dead letters settled more "
            f"than {days} days ago.", messages.SUCCESS,
        )
        return HttpResponseRedirect(self._changelist_url())


class ReplayTargetForm(forms.ModelForm):
    """The secret is write-only: never rendered back; left empty it keeps the stored one."""

    url = forms.URLField(required=False, max_length=500, assume_scheme="https",
                         help_text="For webhooks: where the signed POST goes")
    secret = forms.CharField(
        required=False, strip=True, max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="HMAC-SHA256 signing key for webhooks. Not shown once saved; leave empty "
        "to keep the current one.",
    )

    class Meta:
        model = ReplayTarget
        fields = ("service", "operation", "kind", "url", "secret", "task_name",
                  "rate_per_second", "max_replays", "enabled")

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == ReplayTarget.Kind.WEBHOOK:
            if not data.get("url"):
                self.add_error("url", "A webhook target needs a URL.")
            elif not data["url"].lower().startswith(("http://", "https://")):
                self.add_error("url", "Only http and https URLs.")
            if not data.get("secret"):
                self.add_error("secret", "A webhook target needs a signing secret.")
        if kind == ReplayTarget.Kind.CELERY_TASK and not data.get("task_name"):
            self.add_error("task_name", "A Celery task target needs the task's name.")
        rate = data.get("rate_per_second")
        if rate is not None and not 0 < rate <= 1000:
            self.add_error("rate_per_second", "Between 0 (exclusive) and 1000.")
        return data


@admin.register(ReplayTarget)
class ReplayTargetAdmin(admin.ModelAdmin):
    form = ReplayTargetForm
    list_display = ("service", "operation", "kind", "destination", "secret_state",
                    "rate_per_second", "max_replays", "enabled")
    list_filter = ("kind", "enabled", "service")
    search_fields = ("operation", "url", "task_name")
    list_select_related = ("service",)
    ordering = ("service__name", "operation")

    @admin.display(description="Destination")
    def destination(self, obj: ReplayTarget) -> str:
        return obj.url if obj.kind == ReplayTarget.Kind.WEBHOOK else obj.task_name

    @admin.display(description="Secret")
    def secret_state(self, obj: ReplayTarget) -> str:
        return "set" if obj.secret else "not set"
