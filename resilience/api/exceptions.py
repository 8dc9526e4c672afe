"""One place where failures become HTTP answers: {"message": …, "field": …}."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from resilience.core.report_schema import ReportError
from resilience.ingest.outage import outage_response


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"


def _first_message(detail) -> tuple[str | None, str]:
    """DRF's nested error detail → (field, message) for the first problem."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub_field, message = _first_message(value)
            field = key if sub_field is None else f"{key}.{sub_field}"
            return (None if key == "non_field_errors" else field), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return None, str(detail)


def api_exception_handler(exc, context):
    outage = outage_response(exc, context.get("request"))
    if outage is not None:  # a dependency is down: 503 + Retry-After, never a 500
        return outage
    if isinstance(exc, ReportError):
        return Response(
            {"message": str(exc), "field": exc.field}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    field, message = _first_message(exc.detail if hasattr(exc, "detail") else response.data)
    body = {"message": f"{field}: {message}" if field else message}
    if field:
        body["field"] = field
    response.data = body
    return response


def not_found(request, exception=None):
    """Django's handler404 (config/urls.py). A path under /api/ that matches no route (a
    word where an id goes: /api/v1/groups/abc/) gets the API's JSON shape, not an HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "No API endpoint matches this path (ids in paths "
                                        "are whole numbers)."}, status=404)
    return page_not_found(request, exception)
