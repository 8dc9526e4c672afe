"""The Sentry SDK endpoints, with and without the trailing slash (SDKs send it; some
proxies and hand-written clients drop it). Included at the site root from config/urls.py."""

from django.urls import re_path

from resilience.sentry import views

urlpatterns = [
    re_path(r"^api/(?P<project_id>[0-9]{1,18})/envelope/?$", views.envelope_view,
            name="sentry-envelope"),
    re_path(r"^api/(?P<project_id>[0-9]{1,18})/store/?$", views.store_view,
            name="sentry-store"),
]
