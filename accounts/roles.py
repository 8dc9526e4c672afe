"""The operator roles, declared once: each is a Django group and what it may do.

Viewer reads everything operators look at; Triager also triages groups, forces circuits,
replays, edits or discards dead letters, resends alert deliveries, creates or ends silences
and runs a recovery procedure now. Neither adds or deletes groups or entries, manages keys,
channels or alert rules, purges dead letters nor sees Sentry DSNs: superusers do that.

`sync_roles` runs after each `migrate` (post_migrate, connected in AccountsConfig.ready)
and grants what this table says. It only adds: a permission an operator gave a role by
hand stays.
"""

import logging

from django.apps import apps as global_apps

log = logging.getLogger(__name__)


def _view(app_label: str, *models: str) -> list[str]:
    return [f"{app_label}.view_{model}" for model in models]


VIEWER: list[str] = [
    *_view("resilience", "service", "servicekey", "classificationrule", "errorgroup",
           "grouphistory", "errorlogentry", "errormetric", "circuitstate",
           "circuittransition", "deadletter", "deadletterattempt", "replaytarget",
           "auditevent", "deferredwrite", "eventattachment", "userfeedback"),
    *_view("alerts", "alert", "alertdelivery", "alertattempt", "alertrule", "channel",
           "silence"),
    *_view("campaigns", "campaign", "campaigntimer", "outboxevent"),
    *_view("recovery", "recoveryrun"),
    *_view("monitors", "monitor", "checkin"),
]

TRIAGER: list[str] = [
    *VIEWER,
    "resilience.change_errorgroup",
    "resilience.triage_errorgroup",
    "resilience.force_circuitstate",
    "resilience.replay_deadletter",
    "alerts.resend_alertdelivery",
    "alerts.create_silence",
    "recovery.run_recovery",
    "monitors.change_monitor",  # pause a monitor, widen its margins
]

# Role name (the Django group's name) → "app_label.codename" of each permission it holds.
ROLES: dict[str, list[str]] = {"Viewer": VIEWER, "Triager": TRIAGER}


def sync_roles(*, apps=global_apps, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: every role exists and holds its permissions.

    Runs after django.contrib.auth's own receiver has made the permissions of every app
    (accounts is the last installed app). A permission missing from the database (an app
    not migrated in this run) is logged and skipped, so a partial migrate still works."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {name for names in ROLES.values() for name in names}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename")
        if f"{app_label}.{codename}" in wanted
    }
    missing = sorted(wanted - found.keys())
    if missing:
        log.warning("roles: permissions not in the database yet: %s", ", ".join(missing))
    for role, names in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.add(*(found[name] for name in names if name in found))
