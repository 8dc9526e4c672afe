"""GET /api/v1/lifecycle-events/?after=<stream id>: lifecycle events from the bus, for
operators (the `view_campaign` permission). Reads campaigns/events.py; no logic here."""

import re

import redis
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import events

STREAM_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")
STREAM_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")
MAX_COUNT = 500


class EventBusUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The event bus is unavailable."
    default_code = "event_bus_unavailable"


class CanViewCampaigns(permissions.BasePermission):
    message = "Reading lifecycle events needs the 'view campaign' permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("campaigns.view_campaign"))


EVENT_FIELDS = {
    "id": serializers.CharField(help_text="Stream entry id; pass it as `after` to go on"),
    "topic": serializers.CharField(),
    "event_id": serializers.CharField(help_text="Outbox id: deduplicate on it"),
    "payload": serializers.JSONField(),
    "occurred_at": serializers.CharField(),
}


class LifecycleEventsView(APIView):
    permission_classes = [CanViewCampaigns]
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.STR, description="Stream id; 0 = start"),
            OpenApiParameter("count", OpenApiTypes.INT, description=f"1 to {MAX_COUNT}"),
            OpenApiParameter("stream", OpenApiTypes.STR, description="Default: lifecycle"),
        ],
        responses={200: inline_serializer("LifecycleEvents", {
            "events": inline_serializer("LifecycleEvent", EVENT_FIELDS, many=True),
            "next_after": serializers.CharField(),
        })},
    )
    def get(self, request):
        after = request.query_params.get("after", "0") or "0"
        if not STREAM_ID.match(after):
            raise ValidationError({"after": "a stream id such as 0 or 1764390000000-0"})
        stream = request.query_params.get("stream", "lifecycle")
        if not STREAM_NAME.match(stream):
            raise ValidationError({"stream": "letters, digits, - and _ only"})
        try:
            count = int(request.query_params.get("count", 100))
        except ValueError:
            raise ValidationError({"count": "must be an integer"}) from None
        if not 1 <= count <= MAX_COUNT:
            raise ValidationError({"count": f"must be between 1 and {MAX_COUNT}"})
        try:
            found = events.events_read(stream=stream, after=after, count=count)
        except events.EventBusNotConfigured as exc:
            raise EventBusUnavailable(str(exc)) from exc
        except redis.RedisError as exc:
            raise EventBusUnavailable(f"the event bus is unreachable: {exc}") from exc
        return Response({"events": [e.as_dict() for e in found],
                         "next_after": found[-1].id if found else after})
