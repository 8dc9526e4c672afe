"""Circuit breakers over HTTP: read them (services and operators), and for services ask
for a permit and report the outcome. Work is in resilience/circuits/services.py.

A service key reaches only the circuits its service uses: its own, and those an operator
shared. Operators read every circuit (`view_circuitstate`).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from resilience.api.authentication import (
    SERVICE_OR_OPERATOR,
    ServiceKeyAuthentication,
    service_key_of,
)
from resilience.api.permissions import ReportingService, ServiceOrOperator
from resilience.circuits.selectors import circuit_used_by, circuits_ordered, circuits_used_by
from resilience.circuits.services import (
    OPERATION_PATTERN,
    CircuitStatus,
    circuit_permit,
    circuit_record_failure,
    circuit_record_success,
    circuit_status,
    probe_allowed_at,
    valid_operation,
)
from resilience.models import CircuitState, Service

VIEW_PERMISSION = "resilience.view_circuitstate"


VALID_OPERATION = OPERATION_PATTERN.replace("+", "{1,200}")
BAD_OPERATION = "must be 1 to 200 characters, each a letter, a digit or one of . _ : -"


class OperationConverter:
    """Any path segment: the views check the name (`_valid`), so a bad one is a JSON 400
    naming `operation`, never the router's HTML 404. Names such as timer.execute or
    payments:charge-v2."""

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


OPERATION_PARAMETER = OpenApiParameter(
    "operation", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="Operation name, e.g. timer.execute ([A-Za-z0-9._:-]+)",
    pattern=f"^{VALID_OPERATION}$",
)
SERVICE_PARAMETER = OpenApiParameter(
    "service", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
    description="Service slug: the circuit this service uses (operators; a service key "
    "always reads its own)",
)
OWNER_PARAMETER = OpenApiParameter(
    "service", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
    description="Service slug: only circuits this service owns (a service key never sees "
    "more than its own and the shared ones)",
)
STATE_PARAMETER = OpenApiParameter(
    "state", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
    enum=CircuitState.State.values, description="Only circuits in this state",
)
LIMIT_REACHED = OpenApiResponse(
    description="A new operation past the service's circuit limit "
    "(FAULTLINE_CIRCUIT_MAX_PER_SERVICE): not tracked; the message says what to do"
)
MAX_OFFSET = 10**9


class CircuitPagination(LimitOffsetPagination):
    """Pages of at most 200 (default 50): each row is one live read of the breaker."""

    default_limit = 50
    max_limit = 200

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_OFFSET:
            raise exceptions.ValidationError(
                {"offset": f"must be a whole number from 0 to {MAX_OFFSET}"})
        return int(raw)

# --- serializers -------------------------------------------------------------------------


class CircuitSettingsSerializer(serializers.Serializer):
    failure_threshold = serializers.IntegerField()
    window_seconds = serializers.IntegerField()
    recovery_timeout_seconds = serializers.IntegerField()
    half_open_probes = serializers.IntegerField()
    probe_timeout_seconds = serializers.IntegerField()


class CircuitSerializer(serializers.Serializer):
    operation = serializers.CharField(source="circuit.operation")
    service = serializers.CharField(source="circuit.service.slug",
                                    help_text="The service that owns the circuit")
    shared = serializers.BooleanField(
        source="circuit.shared",
        help_text="Shared by an operator: every service's failures count against it",
    )
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


class CircuitQuerySerializer(serializers.Serializer):
    service = serializers.SlugField(required=False, allow_blank=True, max_length=100)
    state = serializers.ChoiceField(required=False, choices=CircuitState.State.choices)


def _query(request) -> dict:
    query = CircuitQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def _valid(operation: str) -> str:
    if not valid_operation(operation):
        raise exceptions.ValidationError({"operation": BAD_OPERATION})
    return operation


def _service_id(slug: str) -> int | None:
    return Service.objects.filter(slug=slug).values_list("pk", flat=True).first()


# --- views -------------------------------------------------------------------------------


@extend_schema(parameters=[OWNER_PARAMETER, STATE_PARAMETER])
class CircuitsView(generics.ListAPIView):
    """Circuits with their live state, failure count and the settings in effect, a page at
    a time: open ones first, then half-open, forced open, forced closed, closed; then by
    service and operation. A service key lists the circuits its service uses."""

    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    serializer_class = CircuitSerializer
    view_permission = VIEW_PERMISSION
    pagination_class = CircuitPagination

    def get_queryset(self):
        query = _query(self.request)
        key = service_key_of(self.request)
        rows = (circuits_used_by(service_id=key.service_id) if key
                else CircuitState.objects.all())
        if query.get("service"):
            rows = rows.filter(service__slug=query["service"])
        if "state" in query:
            rows = rows.filter(state=query["state"])
        return circuits_ordered(rows.select_related("service", "changed_by"))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        statuses = [circuit_status(row) for row in page]
        return self.get_paginated_response(CircuitSerializer(statuses, many=True).data)


class CircuitDetailView(APIView):
    authentication_classes = SERVICE_OR_OPERATOR
    permission_classes = [ServiceOrOperator]
    view_permission = VIEW_PERMISSION

    @extend_schema(
        parameters=[OPERATION_PARAMETER, SERVICE_PARAMETER],
        responses={
            200: CircuitSerializer,
            400: OpenApiResponse(description="Several services have a circuit for this "
                                 "operation: name one with ?service="),
            404: OpenApiResponse(description="No such circuit (for a service key: none its "
                                 "service uses)"),
        },
        description="The circuit for this operation. A service key gets the one its own "
        "calls reach (a shared one, else its own); an operator names the service with "
        "?service=<slug> when more than one service has a circuit for the operation.",
    )
    def get(self, request, operation: str):
        operation = _valid(operation)
        query = _query(request)
        key = service_key_of(request)
        if key is not None:
            row = circuit_used_by(service_id=key.service_id, operation=operation)
        elif query.get("service"):
            service_id = _service_id(query["service"])
            row = service_id and circuit_used_by(service_id=service_id, operation=operation)
        else:
            row = self._only_one(operation)
        if not row:
            raise exceptions.NotFound(f"No circuit for {operation!r}.")
        return Response(CircuitSerializer(circuit_status(row)).data)

    @staticmethod
    def _only_one(operation: str) -> CircuitState | None:
        rows = list(CircuitState.objects.select_related("service", "changed_by")
                    .filter(operation=operation).order_by("-shared", "id")[:2])
        if len(rows) > 1 and not rows[0].shared:
            raise exceptions.ValidationError({"service": (
                f"several services have a circuit for {operation!r}: name one with "
                "?service=<slug>")})
        return rows[0] if rows else None


class _ServiceCircuitView(APIView):
    """Permits and outcomes come from the calling services themselves (Bearer keys), and
    reach only the circuits their service uses. A new operation past the service's circuit
    limit raises CircuitLimitReached: api/exceptions.py's 409 naming `operation`."""

    authentication_classes = [ServiceKeyAuthentication]
    permission_classes = [ReportingService]
    budget_scope = "circuit_calls"  # each call costs one of the key's budget (api/throttles.py)


class PermitView(_ServiceCircuitView):
    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        request=None,
        responses={200: PermitSerializer,
                   400: OpenApiResponse(description="Not a valid operation name"),
                   409: LIMIT_REACHED},
        description="May a call to this operation go ahead now? A refusal is a 200 with "
        "allowed=false and, when known, how long until a probe will be let through. In "
        "HALF_OPEN a granted call carries a probe_token: report its outcome with it.",
    )
    def post(self, request, operation: str):
        permit = circuit_permit(operation=_valid(operation),
                                service_id=service_key_of(request).service_id)
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
            operation=_valid(operation), service_id=service_key_of(request).service_id,
            probe_token=serializer.validated_data.get("probe_token") or None,
        )
        return Response({"state": state})


class FailureView(_ServiceCircuitView):
    @extend_schema(
        parameters=[OPERATION_PARAMETER],
        request=FailureSerializer,
        responses={200: StateSerializer, 400: OpenApiResponse(description="Bad body"),
                   409: LIMIT_REACHED},
        description="The call failed. Counts against the circuit (opening it at the "
        "threshold); with a probe_token, a half-open probe's failure re-opens it.",
    )
    def post(self, request, operation: str):
        serializer = FailureSerializer(data=request.data if request.body else {})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        state = circuit_record_failure(
            operation=_valid(operation),
            service_id=service_key_of(request).service_id,
            probe_token=data.get("probe_token") or None,
            counts=data["counts"],
        )
        return Response({"state": state})
