"""The dashboard's figures over HTTP, and callers reporting what happened after a decision.

GET  /api/v1/metrics/?range=1h[&service=…][&environment=…]    (operators, service keys)
POST /api/v1/errors/{id}/outcome/  {"success": true|false}    (the entry's service key)

Reads are in resilience/observability/dashboard.py, the write in resilience/handling/outcomes.py.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience.api.authentication import (
    SERVICE_OR_OPERATOR,
    ServiceKeyAuthentication,
    service_key_of,
)
from resilience.api.permissions import ReportingService, ServiceOrOperator
from resilience.core.time_ranges import DEFAULT as DEFAULT_RANGE
from resilience.core.time_ranges import PRESETS
from resilience.handling.outcomes import entry_outcome_record
from resilience.models import (
    CATEGORY_CHOICES,
    SEVERITY_CHOICES,
    STRATEGY_CHOICES,
    ErrorLogEntry,
    Service,
)
from resilience.observability.dashboard import Scope, metrics_summary_cached

# --- serializers (the OpenAPI shape; the selector builds the dict) ------------------------


class CategoryCountSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=CATEGORY_CHOICES)
    count = serializers.IntegerField()


class SeverityCountSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    count = serializers.IntegerField()


class StrategyCountSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=STRATEGY_CHOICES)
    count = serializers.IntegerField()


class TrendPointSerializer(serializers.Serializer):
    hour = serializers.DateTimeField(help_text="Start of the hourly bucket (UTC)")
    count = serializers.IntegerField()


class TopGroupSerializer(serializers.Serializer):
    group = serializers.IntegerField(help_text="ErrorGroup id")
    title = serializers.CharField()
    service = serializers.CharField(help_text="Service slug")
    status = serializers.CharField()
    severity = serializers.CharField()
    count = serializers.IntegerField(help_text="Occurrences in the range")
    last_seen = serializers.DateTimeField(help_text="Last occurrence in the range")


class TopCodeSerializer(serializers.Serializer):
    code = serializers.CharField(
        allow_blank=True,
        help_text="The reported code, else the exception type (as the seed's "
        "extractErrorCode); empty when the error had neither",
    )
    count = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


class RecoverySerializer(serializers.Serializer):
    results = serializers.IntegerField(help_text="Every decision in the range (= total)")
    handled = serializers.IntegerField(help_text="RETRY and FALLBACK decisions in the range")
    succeeded = serializers.IntegerField(help_text="Handled, reported a success (recovered)")
    failed = serializers.IntegerField(help_text="Handled, reported a failure")
    unknown = serializers.IntegerField(help_text="Handled, no outcome reported (yet)")
    reported = serializers.IntegerField(help_text="Outcomes reported, any strategy")
    rate = serializers.FloatField(
        allow_null=True,
        help_text="succeeded / results, in percent (the seed's recoveryRate); null when no "
        "outcome was reported in the range",
    )
    note = serializers.CharField(
        allow_blank=True, help_text='"no outcomes reported" when rate is null, else empty'
    )


class HealthInputsSerializer(serializers.Serializer):
    total_errors = serializers.IntegerField()
    recovery_rate = serializers.FloatField(
        help_text="The rate the score used: 0 when no outcome was reported (the seed's)"
    )


class SystemSerializer(serializers.Serializer):
    open_groups = serializers.IntegerField()
    digest_lag_seconds = serializers.FloatField(help_text="Age of the oldest undigested entry")
    open_circuits = serializers.IntegerField(help_text="OPEN, HALF_OPEN or FORCED_OPEN")
    pending_dead_letters = serializers.IntegerField()
    spool_bytes = serializers.IntegerField(help_text="Reports spooled on this host while the "
                                           "database was unavailable, in bytes")
    spool_age_seconds = serializers.FloatField(help_text="Age of the oldest spooled report")


class MetricsSerializer(serializers.Serializer):
    range = serializers.CharField(help_text="The range asked for (the seed's timeRange)")
    resolution = serializers.ChoiceField(
        choices=["hour"], help_text="Rollups are hourly: every range has one point per hour"
    )
    since = serializers.DateTimeField(help_text="Start of the first hour counted")
    until = serializers.DateTimeField(help_text="End of the last hour counted")
    generated_at = serializers.DateTimeField()
    service = serializers.IntegerField(allow_null=True)
    environment = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()
    by_category = CategoryCountSerializer(many=True, help_text="Most errors first")
    by_severity = SeverityCountSerializer(many=True, help_text="CRITICAL, HIGH, MEDIUM, LOW")
    by_strategy = StrategyCountSerializer(many=True)
    trend = TrendPointSerializer(many=True)
    top_groups = TopGroupSerializer(many=True)
    top_codes = TopCodeSerializer(many=True)
    recovery = RecoverySerializer()
    recovery_rate = serializers.FloatField(allow_null=True, help_text="= recovery.rate")
    health_score = serializers.FloatField(
        help_text="clamp(100 - min(total * 0.1, 50) + recovery rate * 0.5, 0, 100)"
    )
    health_score_inputs = HealthInputsSerializer()
    system = SystemSerializer()


class OutcomeInputSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Did the retry or fallback succeed?")


class EntryOutcomeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=ErrorLogEntry.Outcome.choices)
    outcome_at = serializers.DateTimeField()
    changed = serializers.BooleanField(help_text="False when the same outcome was already set")


# --- views ------------------------------------------------------------------------------


def _service_param(value: str) -> Service:
    lookup = {"pk": int(value)} if value.isdigit() else {"slug": value}
    service = Service.objects.filter(**lookup).first()
    if service is None:
        raise exceptions.ValidationError({"service": f"no service {value!r}"})
    return service


class MetricsView(APIView):
    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    view_permission = "resilience.view_errormetric"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "range", OpenApiTypes.STR, default=DEFAULT_RANGE,
                description="Look-back window: a whole number and m, h or d (e.g. "
                f"{', '.join(PRESETS)}), up to RETENTION_METRICS_DAYS; widened to whole hours",
            ),
            OpenApiParameter("service", OpenApiTypes.STR,
                             description="Service id or slug (a service key sees only its own)"),
            OpenApiParameter("environment", OpenApiTypes.STR),
        ],
        responses={
            200: MetricsSerializer,
            400: OpenApiResponse(description="A range that is not Nm/Nh/Nd or too long "
                                 "(`field: \"range\"`), or an unknown service"),
            403: OpenApiResponse(description="No view permission, or another service's figures"),
        },
        description="Totals, breakdowns, the hourly trend, top groups and codes, the "
        "recovery rate and the health score for a range, from the hourly rollups.",
    )
    def get(self, request):
        range_ = request.query_params.get("range", DEFAULT_RANGE)
        key = service_key_of(request)
        service_id = key.service_id if key else None
        if value := request.query_params.get("service"):
            service = _service_param(value)
            if key and service.pk != key.service_id:
                raise exceptions.PermissionDenied("A service key reads its own service only.")
            service_id = service.pk
        environment = request.query_params.get("environment") or None
        summary = metrics_summary_cached(  # a bad range: BadRange, a 400 naming `range`
            range_=range_, scope=Scope(service_id=service_id, environment=environment)
        )
        return Response(summary)


class OutcomeView(APIView):
    authentication_classes = [ServiceKeyAuthentication]
    permission_classes = [ReportingService]

    @extend_schema(
        request=OutcomeInputSerializer,
        responses={
            200: EntryOutcomeSerializer,
            400: OpenApiResponse(description="`success` missing or not a boolean"),
            404: OpenApiResponse(description="No such entry for this service key"),
        },
        description="Report what happened after the decision (did the retry or fallback "
        "work?). The latest report wins; repeating it changes nothing. Counted in the "
        "recovery rate.",
    )
    def post(self, request, pk: int):
        serializer = OutcomeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            recorded = entry_outcome_record(
                entry_id=pk, succeeded=serializer.validated_data["success"],
                service_id=service_key_of(request).service_id,
            )
        except ErrorLogEntry.DoesNotExist:  # local: only here is "for this service" known
            raise exceptions.NotFound("No such error for this service.") from None
        return Response({"id": recorded.entry_id, "outcome": recorded.outcome,
                         "outcome_at": recorded.outcome_at, "changed": recorded.changed})
