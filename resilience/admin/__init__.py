"""Faultline's admin: where operators triage groups, read entries and manage keys.

One module per area; importing them registers the model admins.
"""

from django.contrib import admin

from . import entries, groups, rules, services  # noqa: F401  (registers the admins)

admin.site.site_header = "Faultline"
admin.site.site_title = "Faultline"
