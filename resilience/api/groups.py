"""Error groups: read them (service keys, operators) and triage them (operators).

GET  /api/v1/groups/[{id}/]                   groups, most recently seen first
POST /api/v1/groups/{id}/resolve|reopen|mute/ triage, recorded in the group's history

Reads are groups.selectors', triage groups.triage's.
"""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience.api.authentication import OPERATOR_ONLY, SERVICE_OR_OPERATOR, scoped_service_id
from resilience.api.filters import GroupFilter
from resilience.api.pagination import LastSeenCursorPagination
from resilience.api.permissions import ServiceOrOperator, Triager
from resilience.api.serializers import GroupSerializer, HistorySerializer, MuteSerializer
from resilience.groups.selectors import groups_filtered
from resilience.groups.triage import (
    error_group_mute,
    error_group_reopen,
    error_group_resolve,
)
from resilience.models import ErrorGroup


class GroupsView(generics.ListAPIView):
    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    serializer_class = GroupSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = GroupFilter
    pagination_class = LastSeenCursorPagination
    view_permission = "resilience.view_errorgroup"

    def get_queryset(self):
        return groups_filtered(service_id=scoped_service_id(self.request))


class GroupDetailView(generics.RetrieveAPIView):
    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    serializer_class = GroupSerializer
    view_permission = "resilience.view_errorgroup"

    def get_queryset(self):
        return groups_filtered(service_id=scoped_service_id(self.request))

    def retrieve(self, request, *args, **kwargs):
        group = self.get_object()
        data = GroupSerializer(group).data
        data["history"] = HistorySerializer(group.history.select_related("actor")[:50],
                                            many=True).data
        return Response(data)


class _GroupActionView(APIView):
    """Triage for automation: operators with a token (Authorization: Token …)."""

    authentication_classes = OPERATOR_ONLY
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
