"""The dead-letter API: services park work here; operators list, replay, discard, purge.

Thin views: validation in the serializers below, work in resilience.dead_letters.services
and resilience.dead_letters.replay. A DeadLetterError from a service is answered by
api/exceptions.py: a 400 naming the field, or a 409 when the dead letter's state does not
allow the action.
"""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience import conf
from resilience.api.authentication import (
    OPERATOR_ONLY,
    SERVICE_OR_OPERATOR,
    service_key_of,
)
from resilience.api.body import read_json_body
from resilience.api.exceptions import Conflict
from resilience.api.filters import TimeWindowFilter
from resilience.api.permissions import ReportsAndReads, ServiceOrOperator
from resilience.core import safe_json
from resilience.core.report_schema import ReportError, in_window
from resilience.dead_letters.replay import (
    ReplayRequest,
    dead_letter_replay_one_request,
    dead_letter_replay_request,
)
from resilience.dead_letters.services import (
    PURGE_PERMISSION,
    REPLAY_PERMISSION,
    DeadLetterError,
    dead_letter_create,
    dead_letter_discard,
    dead_letter_edit,
    dead_letter_purge,
)
from resilience.models import CATEGORY_CHOICES, DeadLetter, DeadLetterAttempt

_HEADER_NAME_MAX = 200
_HEADER_VALUE_MAX = 8192
MAX_ATTEMPTS_SHOWN = 100
# Statuses a replay filter may name (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
REPLAYABLE_STATUS_CHOICES = [
    (s.value, s.label) for s in DeadLetter.Status if s != DeadLetter.Status.DISCARDED
]


class _OperatorWith(permissions.BasePermission):
    permission = ""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.permission))


class CanReplay(_OperatorWith):
    message = "Needs an operator with the 'replay dead letters' permission."
    permission = REPLAY_PERMISSION


class CanPurge(_OperatorWith):
    message = "Needs an operator with the 'purge dead letters' permission."
    permission = PURGE_PERMISSION


# --- serializers -------------------------------------------------------------------------


class _Username(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="username", read_only=True, **kwargs)


class DeadLetterSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    edited_by = _Username()
    replayed_by = _Username()
    discarded_by = _Username()

    class Meta:
        model = DeadLetter
        fields = [
            "id", "service", "entry", "operation", "status", "reason", "category",
            "attempt_count", "first_failed_at", "last_failed_at", "created_at", "payload",
            "edited_payload", "edited_by", "edited_at", "headers", "replay_key",
            "replay_count", "last_replay_at", "last_replay_error", "next_replay_at",
            "replayed_by", "replayed_at", "discarded_by", "discarded_at",
        ]


class AttemptSerializer(serializers.ModelSerializer):
    actor = _Username()

    class Meta:
        model = DeadLetterAttempt
        fields = ["id", "started_at", "finished_at", "outcome", "response_status", "error",
                  "actor", "via"]


class DeadLetterDetailSerializer(DeadLetterSerializer):
    attempts = serializers.SerializerMethodField()

    class Meta(DeadLetterSerializer.Meta):
        fields = [*DeadLetterSerializer.Meta.fields, "attempts"]

    @extend_schema_field(AttemptSerializer(many=True))
    def get_attempts(self, obj: DeadLetter) -> list[dict]:
        attempts = obj.attempts.select_related("actor")[:MAX_ATTEMPTS_SHOWN]
        return AttemptSerializer(attempts, many=True).data


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class StringMapField(serializers.Field):
    """A JSON object whose values are all strings (HTTP-header-like)."""

    default_error_messages = {
        "not_object": "must be an object of strings",
        "bad_name": "header names must be 1 to 200 characters",
        "bad_value": "value of {name!r} must be a string of at most 8192 characters",
        "bad_text": "{what} {problem}",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        for name, value in data.items():
            if not name or len(name) > _HEADER_NAME_MAX:
                self.fail("bad_name")
            if not isinstance(value, str) or len(value) > _HEADER_VALUE_MAX:
                self.fail("bad_value", name=name)
            # Replayed as they are, so refused rather than repaired.
            shown = f"{name[:50]!r}"
            for what, text in ((f"the name {shown}", name), (f"value of {shown}", value)):
                problem = safe_json.text_problem(text)
                if problem:
                    self.fail("bad_text", what=what, problem=problem)
        return data

    def to_representation(self, value):
        return value


class StorableJSONField(serializers.JSONField):
    """Any JSON PostgreSQL's jsonb can hold: NUL and lone surrogates (keys too), depth,
    NaN and huge integers are refused, naming where, never repaired (it is replayed)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return safe_json.check(value)
        except safe_json.UnsafeJSON as exc:  # local: a field's error, filed under its name
            where = f" (at {exc.path})" if exc.path else ""
            raise serializers.ValidationError(f"{exc.problem}{where}") from None


class SaneDateTimeField(serializers.DateTimeField):
    """A time in UTC within the window reports get (report_schema.in_window): not
    before 2000-01-01, and more than five minutes ahead taken as now."""

    def to_internal_value(self, value):
        moment = super().to_internal_value(value)  # any offset, converted to UTC
        try:
            return in_window(self.field_name, moment, timezone.now())
        except ReportError as exc:  # local: a field's error, filed under its name
            raise serializers.ValidationError(exc.problem) from None


class DeadLetterCreateSerializer(serializers.Serializer):
    operation = serializers.CharField(max_length=200, help_text="What could not be done, "
                                      "e.g. timer.execute; replay targets are chosen by it")
    payload = StorableJSONField(required=False, allow_null=True, default=None,
                                help_text="The work itself, any JSON; replayed as is")
    headers = StringMapField(required=False, default=dict,
                             help_text="Object of strings, replayed alongside the payload")
    reason = serializers.CharField(required=False, allow_blank=True, default="",
                                   max_length=32_768)
    category = serializers.ChoiceField(choices=CATEGORY_CHOICES, required=False,
                                       allow_blank=True, default="")
    attempt_count = serializers.IntegerField(required=False, min_value=0,
                                             max_value=1_000_000, default=0)
    first_failed_at = SaneDateTimeField(required=False, allow_null=True, default=None)
    last_failed_at = SaneDateTimeField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown field"]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        first, last = attrs.get("first_failed_at"), attrs.get("last_failed_at")
        if first and last and last < first:
            raise serializers.ValidationError(
                {"last_failed_at": ["must not be before first_failed_at"]}
            )
        return attrs


class ReplayOptionsSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False, default=False,
        help_text="Replay even if it was replayed successfully before",
    )


class ReplayFilterSerializer(ReplayOptionsSerializer):
    operation = serializers.CharField(required=False, max_length=200)
    reason_contains = serializers.CharField(required=False, max_length=500)
    category = serializers.ChoiceField(choices=CATEGORY_CHOICES, required=False)
    status = serializers.ChoiceField(required=False, choices=REPLAYABLE_STATUS_CHOICES)
    service = serializers.CharField(required=False, max_length=100, help_text="Service slug")
    all = serializers.BooleanField(
        required=False, default=False,
        help_text="Required (true) to replay everything when no other filter is given",
    )

    def validate(self, attrs):
        criteria = {k: v for k, v in attrs.items() if k not in ("force", "all")}
        if not criteria and not attrs.get("all"):
            raise serializers.ValidationError(
                'Give at least one filter, or {"all": true} to replay every dead letter.'
            )
        return attrs


class EditAndReplaySerializer(ReplayOptionsSerializer):
    payload = StorableJSONField(help_text="The corrected payload; the original is kept")

    def validate(self, attrs):
        if "payload" not in self.initial_data:
            raise serializers.ValidationError({"payload": ["This field is required."]})
        return attrs


class ReplayRequestSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="Replayable dead letters the request matched")
    queued = serializers.IntegerField(help_text="Of those, the ones with a replay target")
    without_target = serializers.IntegerField()


class PurgeSerializer(serializers.Serializer):
    # Bounded to what a timedelta and a bigint id can hold (larger ones were a 500).
    older_than_days = serializers.IntegerField(required=False, min_value=0, max_value=36_500)
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False,
        max_length=10_000,
    )

    def validate(self, attrs):
        if "older_than_days" not in attrs and "ids" not in attrs:
            raise serializers.ValidationError("Give older_than_days or ids.")
        return attrs


# --- filters --------------------------------------------------------------------------------


class DeadLetterFilter(TimeWindowFilter):
    time_field = "created_at"
    status = filters.ChoiceFilter(choices=DeadLetter.Status.choices)
    category = filters.ChoiceFilter(choices=CATEGORY_CHOICES)
    service = filters.CharFilter(field_name="service__slug")
    reason_contains = filters.CharFilter(field_name="reason", lookup_expr="icontains")

    class Meta:
        model = DeadLetter
        fields = ["status", "operation", "category", "service"]


def _scoped(request):
    qs = DeadLetter.objects.select_related(
        "service", "edited_by", "replayed_by", "discarded_by"
    ).order_by("-id")
    key = service_key_of(request)
    return qs.filter(service_id=key.service_id) if key else qs


# --- views ------------------------------------------------------------------------------------


class DeadLettersView(ReportsAndReads, generics.ListAPIView):
    """GET lists dead letters, newest first; POST parks a service's failed work."""

    authentication_classes = SERVICE_OR_OPERATOR
    serializer_class = DeadLetterSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeadLetterFilter
    view_permission = "resilience.view_deadletter"
    budget_scope = "dead_letters"  # each POST costs one of the key's budget (api/throttles.py)

    def get_queryset(self):
        return _scoped(self.request)

    @extend_schema(
        request=DeadLetterCreateSerializer,
        responses={
            201: DeadLetterSerializer,
            400: OpenApiResponse(description="A field is wrong; the message names it"),
            401: OpenApiResponse(description="No or unknown service key"),
        },
        description="Park work the service could not do, for inspection and replay.",
    )
    def post(self, request):
        # NUL and the like are refused by the serializer, which names the field.
        body = read_json_body(request, limit=conf.get("INGEST_MAX_BODY_BYTES"), text="keep")
        serializer = DeadLetterCreateSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        dead_letter = dead_letter_create(
            service_id=service_key_of(request).service_id, **serializer.validated_data
        )
        return Response(DeadLetterSerializer(dead_letter).data, status=status.HTTP_201_CREATED)


class DeadLetterDetailView(generics.RetrieveAPIView):
    """One dead letter with its replay attempts (newest first, at most 100)."""

    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    serializer_class = DeadLetterDetailSerializer
    view_permission = "resilience.view_deadletter"

    def get_queryset(self):
        return _scoped(self.request)


class _OperatorAction(APIView):
    authentication_classes = OPERATOR_ONLY
    permission_classes = [CanReplay]


class DeadLetterReplayView(_OperatorAction):
    @extend_schema(
        request=ReplayOptionsSerializer,
        responses={202: ReplayRequestSerializer,
                   409: OpenApiResponse(description="Discarded, already replayed (without "
                                        "force), being replayed, or no replay target")},
        description="Queue this dead letter's replay (Celery, queue 'replay').",
        operation_id="dead_letter_replay",
    )
    def post(self, request, pk: int):
        dead_letter = get_object_or_404(DeadLetter.objects.select_related("service"), pk=pk)
        options = ReplayOptionsSerializer(data=request.data or {})
        options.is_valid(raise_exception=True)
        queued = dead_letter_replay_one_request(
            dead_letter=dead_letter, actor=request.user, via="api",
            force=options.validated_data["force"],
        )
        return Response(_request_data(queued), status=status.HTTP_202_ACCEPTED)


class DeadLettersReplayView(_OperatorAction):
    @extend_schema(
        request=ReplayFilterSerializer,
        responses={202: ReplayRequestSerializer},
        description="Queue the replay of every replayable dead letter matching the filter "
        "(PENDING and FAILED; REPLAYED too with force).",
        operation_id="dead_letters_replay_matching",
    )
    def post(self, request):
        body = ReplayFilterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        force = data.pop("force")
        data.pop("all")
        queued = dead_letter_replay_request(
            filters=data, actor=request.user, via="api", force=force
        )
        return Response(_request_data(queued), status=status.HTTP_202_ACCEPTED)


class DeadLetterEditAndReplayView(_OperatorAction):
    @extend_schema(
        request=EditAndReplaySerializer,
        responses={202: DeadLetterSerializer},
        description="Store a corrected payload beside the original and queue a replay "
        "that sends it. A 409 after the edit (no replay target, a replay in progress) "
        "says so: the edit is kept.",
    )
    def post(self, request, pk: int):
        dead_letter = get_object_or_404(DeadLetter.objects.select_related("service"), pk=pk)
        body = EditAndReplaySerializer(data=request.data)
        body.is_valid(raise_exception=True)

        edited = dead_letter_edit(
            dead_letter=dead_letter, actor=request.user, via="api",
            payload=body.validated_data["payload"],
        )
        try:
            dead_letter_replay_one_request(dead_letter=edited, actor=request.user, via="api",
                                           force=True)
        except DeadLetterError as exc:  # local: only here is it known that the edit is kept
            raise Conflict(f"The edit is saved, but not replayed: {exc.message}") from None
        return Response(DeadLetterSerializer(edited).data, status=status.HTTP_202_ACCEPTED)


class DeadLetterDiscardView(_OperatorAction):
    @extend_schema(request=None, responses={200: DeadLetterSerializer})
    def post(self, request, pk: int):
        dead_letter = get_object_or_404(DeadLetter, pk=pk)
        discarded = dead_letter_discard(dead_letter=dead_letter, actor=request.user, via="api")
        return Response(DeadLetterSerializer(discarded).data)


class DeadLettersPurgeView(_OperatorAction):
    permission_classes = [CanPurge]

    @extend_schema(
        request=PurgeSerializer,
        responses={200: inline_serializer("PurgeResult", {
            "count": serializers.IntegerField(),
            "ids": serializers.ListField(child=serializers.IntegerField()),
        })},
        description="Delete DISCARDED and REPLAYED dead letters settled more than "
        "older_than_days ago, or the given ids (other states are never purged). Recorded "
        "as one audit event.",
    )
    def post(self, request):
        body = PurgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = dead_letter_purge(actor=request.user, via="api", **body.validated_data)
        return Response({"count": result.count, "ids": result.ids})


def _request_data(request: ReplayRequest) -> dict[str, int]:
    return {"matched": request.matched, "queued": request.queued,
            "without_target": request.without_target}
