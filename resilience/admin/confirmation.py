"""The "Are you sure?" page before a dangerous admin action, as Django's delete has one.

The first request (the changelist's action POST, or a GET of the action's own page) only
shows what would happen and a form; that form's POST, carrying `post=yes` as Django's own
delete confirmation does, is the one that acts. Permissions are checked on both requests:
an action the user may not run is not offered (ModelAdmin.get_actions).
"""

import functools
from collections.abc import Callable, Iterable

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

CONFIRM_FIELD = "post"  # the name Django's delete confirmation gives it
ITEMS_SHOWN = 50

Action = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], HttpResponse | None]


def confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRM_FIELD) == "yes"


def confirmation_page(
    request: HttpRequest, *, modeladmin: admin.ModelAdmin, title: str, question: str,
    items: Iterable[str], hidden: Iterable[tuple[str, str]], confirm_label: str,
) -> TemplateResponse:
    """The page: the question, what it applies to, and a POST form back to this URL."""
    opts = modeladmin.model._meta
    items = list(items)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": opts,
        "question": question,
        "items": items[:ITEMS_SHOWN],
        "more": max(len(items) - ITEMS_SHOWN, 0),
        "hidden": [*hidden, (CONFIRM_FIELD, "yes")],
        "confirm_label": confirm_label,
        "cancel_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, "admin/confirm_action.html", context)


def confirm_first(
    question: str, *, describe: Callable[[QuerySet], Iterable[str]] = lambda qs: map(str, qs),
) -> Callable[[Action], Action]:
    """Decorate an admin action (below @admin.action) so it asks before it acts."""

    def decorate(action: Action) -> Action:
        @functools.wraps(action)  # keeps the name, description and permissions
        def asking(modeladmin: admin.ModelAdmin, request: HttpRequest,
                   queryset: QuerySet) -> HttpResponse | None:
            if confirmed(request):
                return action(modeladmin, request, queryset)
            # The changelist's own fields go back as they came, so "select all" and the
            # list's filters (the URL's query string) choose the same rows again.
            # The wrapper's name, which the caller may have set after decorating.
            hidden = [("action", asking.__name__),
                      ("select_across", request.POST.get("select_across", "0")),
                      *((ACTION_CHECKBOX_NAME, pk)
                        for pk in request.POST.getlist(ACTION_CHECKBOX_NAME))]
            return confirmation_page(
                request, modeladmin=modeladmin,
                title=f"{asking.short_description}: are you sure?",
                question=question, items=describe(queryset), hidden=hidden,
                confirm_label=f"Yes, {asking.short_description.lower()}",
            )

        return asking

    return decorate
