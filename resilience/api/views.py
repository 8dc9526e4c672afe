"""API views: thin; validation in report_schema, work in services, reads in selectors."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience import conf
from resilience.api.authentication import (
    OperatorTokenAuthentication,
    ServiceKeyAuthentication,
    service_key_of,
)
from resilience.api.body import read_json_body
from resilience.api.filters import EntryFilter, GroupFilter
from resilience.api.pagination import LastSeenCursorPagination
from resilience.api.permissions import ReportsAndReads, ServiceOrOperator, Triager
from resilience.api.serializers import (
    AcceptedSerializer,
    EntrySerializer,
    GroupSerializer,
    HistorySerializer,
    MuteSerializer,
    ReportSerializer,
)
from resilience.core.report_schema import validate_body
from resilience.groups.selectors import entries_filtered, groups_filtered
from resilience.groups.triage import (
    error_group_mute,
    error_group_reopen,
    error_group_resolve,
)
from resilience.ingest.rate_limits import rate_limit_consume, rate_limit_exhausted
from resilience.ingest.service import ingest
from resilience.models import ErrorGroup

AUTHENTICATION = [ServiceKeyAuthentication, SessionAuthentication, OperatorTokenAuthentication]


def _scoped_service_id(request) -> int | None:
    key = service_key_of(request)
    return key.service_id if key else None


class ErrorsView(ReportsAndReads, generics.ListAPIView):
    """POST reports one error or a batch; GET lists stored entries, newest first."""

    authentication_classes = AUTHENTICATION
    serializer_class = EntrySerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = EntryFilter
    view_permission = "resilience.view_errorlogentry"

    def get_queryset(self):
        return entries_filtered(service_id=_scoped_service_id(self.request))

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
        key = service_key_of(request)
        # A key with nothing left this minute is refused before its body is read.
        exhausted = rate_limit_exhausted(key_id=key.key_id, limit=key.rate_limit_per_minute)
        if exhausted is not None:
            raise Throttled(wait=exhausted, detail=f"Rate limit of {key.rate_limit_per_minute} "
                            f"reports per minute exceeded for this key.")
        # NUL and lone surrogates are report_schema's to judge, field by field.
        body = read_json_body(request, limit=conf.get("INGEST_MAX_BODY_BYTES"), text="keep")
        reports, is_batch = validate_body(
            body, max_batch=conf.get("INGEST_MAX_BATCH"), now=timezone.now()
        )
        # A batch counts as its number of reports; a refused one stores nothing.
        retry_after = rate_limit_consume(
            key_id=key.key_id, limit=key.rate_limit_per_minute, cost=len(reports)
        )
        if retry_after is not None:
            raise Throttled(wait=retry_after, detail=f"Rate limit of {key.rate_limit_per_minute} "
                            f"reports per minute exceeded for this key.")
        accepted = ingest(reports, service_id=key.service_id, source="api")
        answers = [a.as_dict() for a in accepted]
        return Response(answers if is_batch else answers[0], status=status.HTTP_201_CREATED)


class ErrorDetailView(generics.RetrieveAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [ServiceOrOperator]
    serializer_class = EntrySerializer
    view_permission = "resilience.view_errorlogentry"

    def get_queryset(self):
        return entries_filtered(service_id=_scoped_service_id(self.request))


class GroupsView(generics.ListAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [ServiceOrOperator]
    serializer_class = GroupSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = GroupFilter
    pagination_class = LastSeenCursorPagination
    view_permission = "resilience.view_errorgroup"

    def get_queryset(self):
        return groups_filtered(service_id=_scoped_service_id(self.request))


class GroupDetailView(generics.RetrieveAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [ServiceOrOperator]
    serializer_class = GroupSerializer
    view_permission = "resilience.view_errorgroup"

    def get_queryset(self):
        return groups_filtered(service_id=_scoped_service_id(self.request))

    def retrieve(self, request, *args, **kwargs):
        group = self.get_object()
        data = GroupSerializer(group).data
        data["history"] = HistorySerializer(group.history.select_related("actor")[:50],
                                            many=True).data
        return Response(data)


class _GroupActionView(APIView):
    """Triage for automation: operators with a token (Authorization: Token …)."""

    authentication_classes = [SessionAuthentication, OperatorTokenAuthentication]
    permission_classes = [Triager]

    def act(self, request, group: ErrorGroup) -> ErrorGroup:
        raise NotImplementedError

    @extend_schema(request=None, responses={200: GroupSerializer})
    def post(self, request, pk: int):
        group = get_object_or_404(ErrorGroup, pk=pk)
        return Response(GroupSerializer(self.act(request, group)).data)


class ResolveGroupView(_GroupActionView):
    def act(self, request, group):
        return error_group_resolve(group=group, actor=request.user, via="api")


class ReopenGroupView(_GroupActionView):
    def act(self, request, group):
        return error_group_reopen(group=group, actor=request.user, via="api")


class MuteGroupView(_GroupActionView):
    @extend_schema(request=MuteSerializer, responses={200: GroupSerializer})
    def post(self, request, pk: int):
        return super().post(request, pk)

    def act(self, request, group):
        serializer = MuteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return error_group_mute(
            group=group, actor=request.user, duration=serializer.validated_data["duration"],
            via="api",
        )
