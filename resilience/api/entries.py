"""Error reports in, stored entries out.

POST /api/v1/errors/          one report or a batch (service keys)
GET  /api/v1/errors/[{id}/]   stored entries, newest first (service keys, operators)

Validation is report_schema's, the work ingest's, the reads groups.selectors'.
"""

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response

from resilience import conf
from resilience.api.authentication import (
    SERVICE_OR_OPERATOR,
    bearer_key,
    scoped_service_id,
    service_key_of,
)
from resilience.api.body import read_report_body
from resilience.api.exceptions import api_error_response
from resilience.api.filters import EntryFilter
from resilience.api.permissions import ReportsAndReads, ServiceOrOperator
from resilience.api.serializers import AcceptedSerializer, EntrySerializer, ReportSerializer
from resilience.core.report_schema import validate_body
from resilience.groups.selectors import entries_filtered
from resilience.ingest.keys import AuthenticatedKey
from resilience.ingest.rate_limits import (
    budget_clock,
    rate_limit_consume,
    rate_limit_exhausted,
)
from resilience.ingest.service import ingest


class ErrorsView(ReportsAndReads, generics.ListAPIView):
    """POST reports one error or a batch; GET lists stored entries, newest first."""

    authentication_classes = SERVICE_OR_OPERATOR
    serializer_class = EntrySerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = EntryFilter
    view_permission = "resilience.view_errorlogentry"

    def get_queryset(self):
        return entries_filtered(service_id=scoped_service_id(self.request))

    @extend_schema(
        request=ReportSerializer(many=False),
        responses={
            201: AcceptedSerializer,
            400: OpenApiResponse(description="A field is wrong; the message names it"),
            401: OpenApiResponse(description="No or unknown service key"),
            403: OpenApiResponse(description="The service key is revoked"),
            413: OpenApiResponse(description="Body over the configured limit"),
            429: OpenApiResponse(description="The key's rate limit (reports per minute) is "
                                 "used up; Retry-After says when to send again"),
            503: OpenApiResponse(description="A dependency is unavailable and the report "
                                 "could not be kept (the spool is full, or the key cannot be "
                                 "checked); `unavailable` names it, Retry-After says when "
                                 "to send again"),
        },
        description="Report one error (an object) or up to INGEST_MAX_BATCH errors (a list). "
        "Each is classified, given a strategy, and stored before the answer is sent. "
        "A list gets a list of answers in the same order. A list with one bad report is "
        "refused whole with a 400 naming its index (reports[417].timestamp) and nothing of "
        "it is stored: fix that report and send the list again. While the database is "
        "unavailable reports are spooled and answered 201 with `spooled: true` and a null "
        "id; they are stored, once per event_id, when it is back.",
    )
    def post(self, request):
        # Served by `report_errors` below (the URL routes POST there); kept here so the
        # schema describes it and a direct use of this view answers the same.
        key = service_key_of(request)
        answers, is_batch = accept_reports(request._request, key)
        return Response(answers if is_batch else answers[0], status=status.HTTP_201_CREATED)


def accept_reports(request: HttpRequest, key: AuthenticatedKey) -> tuple[list[dict], bool]:
    """Budget, read, validate and ingest a POSTed body for `key`: the answers, and whether
    the body was a list. Raises what the API answers as 4xx/503 (api_exception_handler)."""
    budget_now = budget_clock()  # read once: every budget call counts in the same minute
    # A key with nothing left this minute is refused before its body is read.
    exhausted = rate_limit_exhausted(key_id=key.key_id, limit=key.rate_limit_per_minute,
                                     now=budget_now)
    if exhausted is not None:
        raise Throttled(wait=exhausted, detail=f"Rate limit of {key.rate_limit_per_minute} "
                        f"reports per minute exceeded for this key.")
    # NUL and lone surrogates are report_schema's to judge, field by field (and only
    # when the body holds an escape that can make them).
    body, text_checked = read_report_body(request, limit=conf.get("INGEST_MAX_BODY_BYTES"))
    received_at = timezone.now()  # once the body is in: validation and storage share it
    reports, is_batch = validate_body(body, max_batch=conf.get("INGEST_MAX_BATCH"),
                                      now=received_at, text_checked=text_checked)
    # A batch counts as its number of reports; a refused one stores nothing.
    retry_after = rate_limit_consume(
        key_id=key.key_id, limit=key.rate_limit_per_minute, now=budget_now, cost=len(reports)
    )
    if retry_after is not None:
        raise Throttled(wait=retry_after, detail=f"Rate limit of {key.rate_limit_per_minute} "
                        f"reports per minute exceeded for this key.")
    accepted = ingest(reports, service_id=key.service_id, now=received_at, source="api")
    return [a.as_dict() for a in accepted], is_batch


_errors_view = ErrorsView.as_view()


@csrf_exempt
def report_errors(request: HttpRequest) -> HttpResponse:
    """/api/v1/errors/: POST with a usable service key is answered here, as a plain Django
    view; everything else (reads, and every refusal of a missing, wrong or revoked key or
    of an operator) goes to ErrorsView, which answers it as before.

    The hottest path skips DRF's request wrapping, authenticator chain, permission and
    throttle checks, content negotiation and renderer: the body is read the same way, the
    errors are answered by the same handler, in the same shape."""
    if request.method != "POST":
        return _errors_view(request)
    try:
        key = bearer_key(request)
        if key is None:
            return _errors_view(request)
        answers, is_batch = accept_reports(request, key)
    except Exception as exc:  # noqa: BLE001 - answered as the API answers it, or re-raised
        return api_error_response(exc, request)
    return HttpResponse(answers_json(answers if is_batch else answers[0]), status=201,
                        content_type="application/json")


def answers_json(answers: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    """The answers as `json.dumps(answers, ensure_ascii=False, separators=(",", ":"))`
    writes them, byte for byte: their text, 64-bit integers, booleans and null are written
    alike by orjson, in half the time with the dicts made (bench/batch_steps.py; the
    property test in tests/resilience/test_ingest_answers.py)."""
    return orjson.dumps(answers)


# drf-spectacular documents URL patterns whose view is an APIView: this one's is ErrorsView.
report_errors.cls = ErrorsView
report_errors.initkwargs = {}


class ErrorDetailView(generics.RetrieveAPIView):
    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    serializer_class = EntrySerializer
    view_permission = "resilience.view_errorlogentry"

    def get_queryset(self):
        return entries_filtered(service_id=scoped_service_id(self.request))
