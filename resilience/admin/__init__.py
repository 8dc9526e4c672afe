"""Faultline's admin: where operators triage groups, read entries and manage keys.

One module per area; importing them registers the model admins.
"""

from django.contrib import admin

from . import circuits, dead_letters, entries, groups, rules, services  # noqa: F401  (registers)

admin.site.site_header = "Faultline"
admin.site.site_title = "Faultline"
