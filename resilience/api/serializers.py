"""Output shapes, and the report input shape for the OpenAPI schema.

The report serializer is generated from report_schema.REPORT_FIELDS, so the documented
shape and the validated shape cannot drift apart. Validation itself is report_schema's.
"""

from rest_framework import serializers

from resilience.core.report_schema import REPORT_FIELDS
from resilience.models import ErrorGroup, ErrorLogEntry, GroupHistory

_SCHEMA_FIELDS = {
    "text": lambda spec: serializers.CharField(max_length=spec.max_length, help_text=spec.help),
    "id": lambda spec: serializers.CharField(max_length=spec.max_length, help_text=spec.help),
    "int": lambda spec: serializers.IntegerField(
        min_value=spec.minimum, max_value=spec.maximum, help_text=spec.help
    ),
    "object": lambda spec: serializers.DictField(help_text=spec.help),
    "list": lambda spec: serializers.ListField(child=serializers.CharField(), help_text=spec.help),
    "any": lambda spec: serializers.JSONField(help_text=spec.help),
    "cause": lambda spec: serializers.DictField(help_text=spec.help),
    "timestamp": lambda spec: serializers.DateTimeField(help_text=spec.help),
}

ReportSerializer = type(
    "ReportSerializer",
    (serializers.Serializer,),
    {
        name: _SCHEMA_FIELDS[spec.kind](spec)
        for name, spec in REPORT_FIELDS.items()
    }
    | {"Meta": type("Meta", (), {"ref_name": "Report"})},
)
for _field in ReportSerializer._declared_fields.values():
    _field.required = False


class AcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null when spooled")
    event_id = serializers.CharField()
    category = serializers.CharField()
    severity = serializers.CharField()
    retryable = serializers.BooleanField()
    recoverable = serializers.BooleanField()
    strategy = serializers.CharField()
    retry_after_ms = serializers.IntegerField(allow_null=True)
    circuit = serializers.CharField()
    spooled = serializers.BooleanField(
        required=False, help_text="Present and true when the database was unavailable: the "
        "report is kept in the server's spool and stored once the database is back.")


class EntrySerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ErrorLogEntry
        fields = [
            "id", "event_id", "service", "source", "group", "timestamp", "received_at",
            "digested_at", "category", "severity", "retryable", "recoverable", "strategy",
            "retry_after_ms", "code", "name", "http_status", "errno", "message", "stack_trace",
            "operation", "component", "campaign_id", "timer_id", "user_id", "attempt_count",
            "environment", "release", "context", "payload", "cause", "fingerprint", "extra",
            "classification", "outcome", "outcome_at",
        ]


class HistorySerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GroupHistory
        fields = ["action", "actor", "via", "at", "detail"]


class GroupSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ErrorGroup
        fields = [
            "id", "service", "fingerprint", "title", "culprit", "name", "code", "operation",
            "environment", "category", "severity", "status", "assignee", "times_seen",
            "regression_count", "first_seen", "last_seen", "resolved_at", "resolved_by",
            "muted_until", "first_release", "last_release", "needs_manual_intervention",
            "unhandled",
        ]


class MuteSerializer(serializers.Serializer):
    duration = serializers.ChoiceField(choices=["1h", "24h", "until_resolved"])
