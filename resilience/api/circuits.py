"""Circuit breakers over HTTP: read them (services and operators), and for services ask
for a permit and report the outcome. Work is in resilience/services/circuits.py."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience.api.authentication import ServiceKeyAuthentication
from resilience.api.permissions import ReportingService, ServiceOrOperator
from resilience.models import CircuitState
from resilience.services.circuits import (
    OPERATION_PATTERN,
    CircuitStatus,
    circuit_permit,
    circuit_record_failure,
    circuit_record_success,
    circuit_status,
    probe_allowed_at,
)

AUTHENTICATION = [ServiceKeyAuthentication, SessionAuthentication, TokenAuthentication]
VIEW_PERMISSION = "resilience.view_circuitstate"


class OperationConverter:
    """Operation names such as timer.execute or payments:charge-v2 (no slashes)."""

    regex = OPERATION_PATTERN.replace("+", "{1,200}")

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


OPERATION_PARAMETER = OpenApiParameter(
    "operation", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="Operation name, e.g. timer.execute ([A-Za-z0-9._:-]+)",
)

# --- serializers -------------------------------------------------------------------------


class CircuitSettingsSerializer(serializers.Serializer):
    failure_threshold = serializers.IntegerField()
    window_seconds = serializers.IntegerField()
    recovery_timeout_seconds = serializers.IntegerField()
    half_open_probes = serializers.IntegerField()
    probe_timeout_seconds = serializers.IntegerField()


class CircuitSerializer(serializers.Serializer):
    operation = serializers.CharField(source="circuit.operation")
    state = serializers.ChoiceField(choices=CircuitState.State.choices)
    is_open = serializers.BooleanField()
    failure_count = serializers.IntegerField(help_text="Failures counted in the current window")
    opened_at = serializers.DateTimeField(allow_null=True)
    retry_after_ms = serializers.IntegerField(
        allow_null=True, help_text="Until a probe is allowed; null when closed or forced"
    )
    until = serializers.SerializerMethodField()
    changed_at = serializers.DateTimeField(source="circuit.changed_at")
    changed_by = serializers.SerializerMethodField()
    changed_via = serializers.CharField(source="circuit.changed_via")
    settings = serializers.SerializerMethodField()
    backend = serializers.ChoiceField(choices=["redis", "database"])

    def get_until(self, status: CircuitStatus) -> str | None:
        until = probe_allowed_at(status.retry_after_ms)
        return until.isoformat() if until else None

    def get_changed_by(self, status: CircuitStatus) -> str | None:
        user = status.circuit.changed_by
        return user.get_username() if user else None

    @extend_schema_field(CircuitSettingsSerializer)
    def get_settings(self, status: CircuitStatus) -> dict:
        cfg = status.config
        return {
            "failure_threshold": cfg.failure_threshold,
            "window_seconds": cfg.window_ms // 1000,
            "recovery_timeout_seconds": cfg.recovery_timeout_ms // 1000,
            "half_open_probes": cfg.half_open_probes,
            "probe_timeout_seconds": cfg.probe_timeout_ms // 1000,
        }


class PermitSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    state = serializers.ChoiceField(choices=CircuitState.State.choices)
    retry_after_ms = serializers.IntegerField(allow_null=True)
    probe_token = serializers.CharField(
        allow_null=True, help_text="Set when the call is a half-open probe: report it back"
    )
    until = serializers.DateTimeField(
        allow_null=True, help_text="When a probe will be allowed (server time), if known"
    )


class OutcomeSerializer(serializers.Serializer):
    probe_token = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64
    )


class FailureSerializer(OutcomeSerializer):
    counts = serializers.BooleanField(
        required=False, default=True,
        help_text="false for errors that say nothing about the dependency (validation, 4xx): "
        "they are not counted and give a probe slot back",
    )


class StateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=CircuitState.State.choices)


# --- views -------------------------------------------------------------------------------


class CircuitsView(generics.ListAPIView):
    """Every circuit with its live state, failure count and the settings in effect."""

    authentication_classes = AUTHENTICATION
    permission_classes = [ServiceOrOperator]
    serializer_class = CircuitSerializer
    view_permission = VIEW_PERMISSION
    pagination_class = None

    def get_queryset(self):
        return CircuitState.objects.select_related("changed_by").order_by("operation")

    def list(self, request, *args, **kwargs):
        statuses = [circuit_status(row) for row in self.get_queryset()]
        return Response(CircuitSerializer(statuses, many=True).data)


class CircuitDetailView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [ServiceOrOperator]
    view_permission = VIEW_PERMISSION

    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        responses={200: CircuitSerializer, 404: OpenApiResponse(description="No such circuit")},
    )
    def get(self, request, operation: str):
        row = get_object_or_404(CircuitState.objects.select_related("changed_by"),
                                operation=operation)
        return Response(CircuitSerializer(circuit_status(row)).data)


class _ServiceCircuitView(APIView):
    """Permits and outcomes come from the calling services themselves (Bearer keys)."""

    authentication_classes = [ServiceKeyAuthentication]
    permission_classes = [ReportingService]


class PermitView(_ServiceCircuitView):
    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        request=None,
        responses={200: PermitSerializer},
        description="May a call to this operation go ahead now? A refusal is a 200 with "
        "allowed=false and, when known, how long until a probe will be let through. In "
        "HALF_OPEN a granted call carries a probe_token: report its outcome with it.",
    )
    def post(self, request, operation: str):
        permit = circuit_permit(operation=operation)
        until = probe_allowed_at(permit.retry_after_ms)
        return Response(
            {
                "allowed": permit.allowed,
                "state": permit.state,
                "retry_after_ms": permit.retry_after_ms,
                "probe_token": permit.probe_token,
                "until": until.isoformat() if until else None,
            }
        )


class SuccessView(_ServiceCircuitView):
    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        request=OutcomeSerializer,
        responses={200: StateSerializer, 400: OpenApiResponse(description="Bad body")},
        description="The call succeeded. With the probe_token of a half-open probe, this "
        "closes the circuit.",
    )
    def post(self, request, operation: str):
        serializer = OutcomeSerializer(data=request.data if request.body else {})
        serializer.is_valid(raise_exception=True)
        state = circuit_record_success(
            operation=operation, probe_token=serializer.validated_data.get("probe_token") or None
        )
        return Response({"state": state})


class FailureView(_ServiceCircuitView):
    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        request=FailureSerializer,
        responses={200: StateSerializer, 400: OpenApiResponse(description="Bad body")},
        description="The call failed. Counts against the circuit (opening it at the "
        "threshold); with a probe_token, a half-open probe's failure re-opens it.",
    )
    def post(self, request, operation: str):
        serializer = FailureSerializer(data=request.data if request.body else {})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        state = circuit_record_failure(
            operation=operation,
            probe_token=data.get("probe_token") or None,
            counts=data["counts"],
        )
        return Response({"state": state})
