"""One place where failures become HTTP answers: {"message": …, "field": …}.

Views raise the application's own errors (a dead letter that cannot be replayed, a circuit
past its service's limit, a bad range, a body that is not JSON we store); `DOMAIN_ERRORS`
says which DRF error answers each, and `api_exception_handler` shapes every answer alike.
"""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

from resilience.api.body import PayloadTooLarge
from resilience.circuits.services import CircuitLimitReached
from resilience.core.report_schema import ReportError
from resilience.core.safe_json import UnsafeJSON
from resilience.core.time_ranges import BadRange
from resilience.dead_letters.services import DeadLetterError
from resilience.ingest.outage import outage_response
from resilience.sentry.decoding import BadBody, BodyTooLarge, UnsupportedEncoding


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The current state does not allow this."
    default_code = "conflict"


def _dead_letter_error(exc: DeadLetterError) -> exceptions.APIException:
    if exc.conflict:
        return Conflict(exc.message)
    if exc.field:
        return exceptions.ValidationError({exc.field: [exc.message]})
    return exceptions.ValidationError(exc.message)


def _unsafe_json(exc: UnsafeJSON) -> exceptions.APIException:
    # Only request bodies reach here (fields check their own values); a problem with a
    # place in the document names it as the field (`payload.qty: contains a NUL …`).
    if exc.path:
        return exceptions.ValidationError({exc.path: [exc.problem]})
    return exceptions.ParseError(f"Request body {exc}.")


# Checked in order: the first type the error is an instance of answers it.
DOMAIN_ERRORS: tuple[tuple[type[Exception], Callable[..., exceptions.APIException]], ...] = (
    (ReportError, lambda exc: exceptions.ValidationError({exc.field: [exc.problem]})),
    (DeadLetterError, _dead_letter_error),
    (CircuitLimitReached, lambda exc: Conflict({"operation": str(exc)})),
    (BadRange, lambda exc: exceptions.ValidationError({"range": str(exc)})),
    (UnsafeJSON, _unsafe_json),
    (BodyTooLarge, lambda exc: PayloadTooLarge(f"Request body is too large: {exc}.")),
    (UnsupportedEncoding, lambda exc: exceptions.UnsupportedMediaType("", detail=str(exc))),
    (BadBody, lambda exc: exceptions.ParseError(f"Request body cannot be decompressed: {exc}.")),
)


def _as_api_error(exc: Exception) -> Exception:
    """An application error as the DRF error that answers it; anything else as it is."""
    for kind, answer in DOMAIN_ERRORS:
        if isinstance(exc, kind):
            return answer(exc)
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


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
    exc = _as_api_error(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    field, message = _first_message(exc.detail if hasattr(exc, "detail") else response.data)
    body = {"message": f"{field}: {message}" if field else message}
    if field:
        body["field"] = field
    response.data = body
    return response


def api_error_response(exc: Exception, request) -> HttpResponse:
    """An error raised outside DRF's dispatch (the plain ingest view), answered exactly as
    a DRF view's would be; anything the handler does not answer is raised again (a 500)."""
    response = api_exception_handler(exc, {"request": request, "view": None})
    if response is None:
        raise exc
    if isinstance(response, Response):
        response.accepted_renderer = JSONRenderer()
        response.accepted_media_type = "application/json"
        response.renderer_context = {"request": request, "response": response}
        response.render()
    return response


def not_found(request, exception=None):
    """Django's handler404 (config/urls.py). A path under /api/ that matches no route (a
    word where an id goes: /api/v1/groups/abc/) gets the API's JSON shape, not an HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "No API endpoint matches this path (ids in paths "
                                        "are whole numbers)."}, status=404)
    return page_not_found(request, exception)
