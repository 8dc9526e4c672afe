"""config.urls plus `bench/noop/`: a view that does nothing, the ceiling of a Django request.

It reads no body and answers a fixed JSON 201, through every middleware the ingest endpoint
goes through (csrf_exempt, as DRF's views are). Served only under bench.reference_settings;
production's URLs never include it.
"""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler404, handler500
from config.urls import urlpatterns as production_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


@csrf_exempt
def noop(request):
    return HttpResponse(b'{"noop":true}', status=201, content_type="application/json")


urlpatterns = [path("bench/noop/", noop, name="bench-noop"), *production_urlpatterns]
