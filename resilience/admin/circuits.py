"""Circuit breakers: every circuit at a glance, its settings, and the operator's levers.

A circuit belongs to a service (its calls and failures); "Share with every service" makes
one circuit per operation count every service's failures and answer every service's calls.
The state shown is the live one (Redis, or the database while Redis is away), read once
per row of the page; the list puts open circuits first. Force open / Force closed / Reset /
sharing go through resilience.circuits.services, which records a CircuitTransition (for
state changes) and an AuditEvent; the admin also writes its LogEntry. Force open, Force
closed and Reset first ask on a confirmation page (resilience/admin/confirmation.py).
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from resilience.admin.base import ReadOnlyTabularInline
from resilience.circuits.selectors import STATE_ORDER
from resilience.circuits.services import (
    SETTINGS_FIELDS,
    CircuitStatus,
    SharingRefused,
    circuit_backend,
    circuit_force,
    circuit_outage_since,
    circuit_reset,
    circuit_set_shared,
    circuit_settings_changed,
    circuit_status,
    probe_allowed_at,
)
from resilience.models import CircuitState, CircuitTransition

from .base import ReadOnlyAdmin
from .confirmation import confirm_first
from .display import EMPTY

FORCE_PERMISSION = "resilience.force_circuitstate"
FORCE_OPEN_QUESTION = (
    "Force these circuits open? Every call to their operations is refused (or takes its "
    "fallback) until an operator forces them closed or resets them."
)
FORCE_CLOSED_QUESTION = (
    "Force these circuits closed? Every call goes through, however often it fails, until "
    "an operator resets them."
)
RESET_QUESTION = (
    "Reset these circuits? Each is closed with its failures forgotten, and opens again "
    "when its failure threshold is reached."
)
RECENT_TRANSITIONS = 50
State = CircuitState.State

# Colour helps at a glance; the text says it all without colour.
BADGE_COLOURS = {
    State.CLOSED: "#2e7d32",
    State.OPEN: "#c62828",
    State.HALF_OPEN: "#b45309",
    State.FORCED_OPEN: "#7f1d1d",
    State.FORCED_CLOSED: "#37474f",
}
BADGE = (
    '<span style="background:{};color:#fff;padding:1px 7px;border-radius:3px;'
    'font-weight:600;white-space:nowrap">{}</span>'
)

def state_badge(state: str) -> SafeString:
    return format_html(BADGE, BADGE_COLOURS.get(state, "#555"), State(state).label)


def backend_text() -> str:
    if circuit_backend() == "redis":
        return "Live state: Redis"
    since = circuit_outage_since()
    if since is None:
        return "Live state: database (no Redis configured)"
    return f"Live state: database — Redis unreachable since {since:%Y-%m-%d %H:%M:%S} UTC"


class CircuitTransitionInline(ReadOnlyTabularInline):
    model = CircuitTransition
    fields = ("at", "from_state", "to_state", "reason", "actor", "via")
    readonly_fields = fields
    ordering = ("-at", "-id")
    verbose_name_plural = f"transitions (most recent {RECENT_TRANSITIONS})"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A flapping circuit collects many rows over the months; the page shows the latest.
        qs = super().get_queryset(request)
        recent = qs.order_by("-at", "-id").values("pk")[:RECENT_TRANSITIONS]
        return qs.filter(pk__in=recent).select_related("actor")


class CircuitSettingsForm(forms.ModelForm):
    """Empty = the FAULTLINE default; anything set must make sense."""

    class Meta:
        model = CircuitState
        fields = ("service", "operation", *SETTINGS_FIELDS)

    def clean(self):
        data = super().clean()
        for name in SETTINGS_FIELDS:
            value = data.get(name)
            minimum = 0 if name == "recovery_timeout_seconds" else 1
            if value is not None and value < minimum:
                self.add_error(name, f"Must be at least {minimum} (or empty for the default).")
        return data


def _circuit_action(
    description: str, apply: Callable[[CircuitState, HttpRequest], CircuitState], question: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
    @confirm_first(question)
    @admin.action(description=description, permissions=["force"])
    def action(modeladmin: "CircuitStateAdmin", request: HttpRequest, queryset: QuerySet) -> None:
        changed = 0
        for circuit in queryset:
            before = circuit.version
            after = apply(circuit, request)
            if after.version != before:
                modeladmin.log_change(request, circuit, f"{description} (admin action)")
                changed += 1
        skipped = len(queryset) - changed
        text = f"{description}: {changed} circuit{'s' if changed != 1 else ''}"
        if skipped:
            text += f" ({skipped} already in that state)"
        modeladmin.message_user(request, text, messages.SUCCESS)

    action.__name__ = description.lower().replace(" ", "_")
    return action


def _force(state: str) -> Callable[[CircuitState, HttpRequest], CircuitState]:
    def apply(circuit: CircuitState, request: HttpRequest) -> CircuitState:
        return circuit_force(circuit=circuit, state=state, actor=request.user)

    return apply


def _reset(circuit: CircuitState, request: HttpRequest) -> CircuitState:
    return circuit_reset(circuit=circuit, actor=request.user)


def _sharing_action(
    description: str, shared: bool
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
    @admin.action(description=description, permissions=["force"])
    def action(modeladmin: "CircuitStateAdmin", request: HttpRequest, queryset: QuerySet) -> None:
        changed, refused = 0, []
        for circuit in queryset.select_related("service"):
            try:
                if circuit_set_shared(circuit=circuit, shared=shared, actor=request.user):
                    modeladmin.log_change(request, circuit, f"{description} (admin action)")
                    changed += 1
            except SharingRefused as exc:
                refused.append(str(exc))
        text = f"{description}: {changed} circuit{'s' if changed != 1 else ''}"
        modeladmin.message_user(request, text, messages.SUCCESS)
        for reason in refused:
            modeladmin.message_user(request, f"Not shared: {reason}.", messages.ERROR)

    action.__name__ = "share" if shared else "unshare"
    return action


@admin.register(CircuitState)
class CircuitStateAdmin(admin.ModelAdmin):
    form = CircuitSettingsForm
    list_display = (
        "operation",
        "service",
        "shared",
        "status",
        "failures",
        "live_opened_at",
        "probe_at",
        "changed_at",
        "changed_by",
        "changed_via",
    )
    list_filter = ("state", "shared", "changed_via", ("service", admin.RelatedOnlyFieldListFilter))
    search_fields = ("operation", "service__slug")
    list_select_related = ("service", "changed_by")
    # Each row is one live read of the breaker: keep pages modest.
    list_per_page = 50
    # What needs attention first: open, half-open, forced open, forced closed, closed.
    ordering = (STATE_ORDER.asc(), "service__slug", "operation")
    actions = (
        _circuit_action("Force open", _force(State.FORCED_OPEN), FORCE_OPEN_QUESTION),
        _circuit_action("Force closed", _force(State.FORCED_CLOSED), FORCE_CLOSED_QUESTION),
        _circuit_action("Reset", _reset, RESET_QUESTION),
        _sharing_action("Share with every service", shared=True),
        _sharing_action("Make private to its service", shared=False),
    )
    inlines = (CircuitTransitionInline,)
    status_fields = ("status", "failures", "live_opened_at", "probe_at", "backend",
                     "settings_in_effect")
    mirror_fields = ("state", "version", "changed_at", "changed_by", "changed_via")
    fieldsets = (
        (None, {"fields": ("operation", "service", "shared")}),
        ("Live", {"fields": status_fields}),
        (
            "Settings (empty = the FAULTLINE default)",
            {"fields": SETTINGS_FIELDS},
        ),
        ("Last change (durable mirror)", {"fields": mirror_fields}),
    )

    # --- permissions -------------------------------------------------------------------

    def has_force_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FORCE_PERMISSION)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the row mirrors live state in Redis; reset it instead

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        fields = (*self.status_fields, *self.mirror_fields)
        if obj is not None:  # sharing is an action, audited; the owner never changes
            fields = ("operation", "service", "shared", *fields)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:  # adding: name the service, the operation and its settings up front
            return ((None, {"fields": ("service", "operation", *SETTINGS_FIELDS)}),)
        return self.fieldsets

    def get_inlines(self, request: HttpRequest, obj=None):
        return self.inlines if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: CircuitState, form, change: bool) -> None:
        if change:
            # Only the settings are editable; never overwrite the state the breaker wrote.
            CircuitState.objects.filter(pk=obj.pk).update(
                **{name: getattr(obj, name) for name in SETTINGS_FIELDS}
            )
        else:
            super().save_model(request, obj, form, change)
        circuit_settings_changed()

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "subtitle": backend_text()}
        return super().changelist_view(request, extra_context)

    # --- the live state, read once per row ---------------------------------------------

    def _status(self, obj: CircuitState) -> CircuitStatus:
        if not hasattr(obj, "_live_status"):
            obj._live_status = circuit_status(obj)
        return obj._live_status

    @admin.display(description="State", ordering="state")
    def status(self, obj: CircuitState) -> SafeString:
        return state_badge(self._status(obj).state)

    @admin.display(description="Failures (in the window, or that opened it)")
    def failures(self, obj: CircuitState) -> int:
        return self._status(obj).failure_count

    @admin.display(description="Opened at")
    def live_opened_at(self, obj: CircuitState):
        return self._status(obj).opened_at or EMPTY

    @admin.display(description="Probe allowed at")
    def probe_at(self, obj: CircuitState):
        status = self._status(obj)
        if not status.is_open:
            return EMPTY
        until = probe_allowed_at(status.retry_after_ms)
        return until.strftime("%Y-%m-%d %H:%M:%S %Z") if until else "when an operator acts"

    @admin.display(description="Backend")
    def backend(self, obj: CircuitState) -> str:
        return backend_text()

    @admin.display(description="Settings in effect")
    def settings_in_effect(self, obj: CircuitState) -> str:
        cfg = self._status(obj).config
        return (
            f"open after {cfg.failure_threshold} failures within {cfg.window_ms // 1000} s; "
            f"probe after {cfg.recovery_timeout_ms // 1000} s; {cfg.half_open_probes} "
            f"probe(s), each held up to {cfg.probe_timeout_ms // 1000} s"
        )


@admin.register(CircuitTransition)
class CircuitTransitionAdmin(ReadOnlyAdmin):
    list_display = ("at", "circuit", "from_state", "to_state", "reason", "actor", "via")
    list_filter = ("to_state", "via")
    list_select_related = ("circuit", "actor")
    search_fields = ("circuit__operation",)
    ordering = ("-at", "-id")
