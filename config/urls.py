from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from campaigns.api import LifecycleEventsView
from resilience.admin.dashboard import dashboard_view
from resilience.attachments.views import attachment_download
from resilience.observability import health, prometheus

# JSON 404s under /api/ (resilience/api/exceptions.py).
handler404 = "resilience.api.exceptions.not_found"
handler500 = "resilience.ingest.outage.server_error"

urlpatterns = [
    # First: ingest is the busiest route, and Django tries the patterns in order.
    path("api/v1/", include("resilience.api.urls")),
    # Operators start at the admin (also the admin's "View site" link, site_url "/").
    path("", RedirectView.as_view(pattern_name="admin:index"), name="site-root"),
    # Before admin.site.urls, whose catch-all would otherwise answer 404 for it.
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/attachments/<int:pk>/", admin.site.admin_view(attachment_download),
         name="admin-attachment-download"),
    path("admin/", admin.site.urls),
    path("api/v1/lifecycle-events/", LifecycleEventsView.as_view(), name="lifecycle-events"),
    # Sentry SDKs: /api/<project_id>/envelope/ and /store/ (resilience/sentry/).
    path("", include("resilience.sentry.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Redoc from drf-spectacular-sidecar's static files; its search runs in a blob: worker.
    path(
        "api/docs/",
        csp_update({"worker-src": ["'self'", "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
        ),
        name="api-docs",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", prometheus.metrics_view, name="prometheus-metrics"),
]
