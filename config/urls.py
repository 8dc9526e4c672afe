from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from campaigns.api import LifecycleEventsView
from resilience import health, prometheus
from resilience.admin.dashboard import dashboard_view

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer 404 for it.
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/lifecycle-events/", LifecycleEventsView.as_view(), name="lifecycle-events"),
    path("api/v1/", include("resilience.api.urls")),
    # Sentry SDKs: /api/<project_id>/envelope/ and /store/ (resilience/sentry/).
    path("", include("resilience.sentry.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", prometheus.metrics_view, name="prometheus-metrics"),
]
