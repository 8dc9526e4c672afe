"""Faultline's core records: who reports, what they reported, and how it is grouped."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from resilience.core.classification import Category, Severity
from resilience.core.scrubbing import MAX_FIELD_NAME_LENGTH, MAX_FIELD_NAMES, field_names
from resilience.core.strategy import Strategy

CATEGORY_CHOICES = [(c.value, c.value.replace("_", " ").title()) for c in Category]
SEVERITY_CHOICES = [(s.value, s.value.title()) for s in Severity]
STRATEGY_CHOICES = [(s.value, s.value.replace("_", " ").title()) for s in Strategy]


def validate_field_names(text: str) -> None:
    """A service's scrubbing list: a bounded number of bounded names."""
    names = field_names(text)
    if len(names) > MAX_FIELD_NAMES:
        raise ValidationError(f"At most {MAX_FIELD_NAMES} names.")
    if any(len(name) > MAX_FIELD_NAME_LENGTH for name in names):
        raise ValidationError(f"A name may have at most {MAX_FIELD_NAME_LENGTH} characters.")


class Service(models.Model):
    """A system that reports its failures to Faultline. Its id is the Sentry project id."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Server-side scrubbing of its reports before storage (resilience/core/scrubbing.py).
    scrub_data = models.BooleanField(
        "scrub sensitive data", default=True,
        help_text="Replace passwords, secrets, tokens, auth headers, cookies, card numbers "
        "and IBANs with [Filtered] before reports are stored",
    )
    scrub_sensitive_fields = models.TextField(
        "additional sensitive fields", blank=True, validators=[validate_field_names],
        help_text="One name a line: any key containing it is filtered too (case-insensitive)",
    )
    scrub_safe_fields = models.TextField(
        "safe fields", blank=True, validators=[validate_field_names],
        help_text="One name a line: keys whose values are never scrubbed (exact name, "
        "case-insensitive), e.g. author",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ServiceKey(models.Model):
    """A credential of a service.

    The API key (Bearer) is only ever compared, so only its SHA-256 is stored and it is shown
    once, when created. The public key is the Sentry DSN's user part: Sentry SDKs send it in
    clear (browser SDKs embed it in pages), so it is kept in clear to show the DSN.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="keys")
    label = models.CharField(max_length=100, default="default")
    key_prefix = models.CharField(max_length=12, help_text="First characters, to recognise a key")
    key_hash = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=32, unique=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Reports accepted per minute; empty for the default "
        "(FAULTLINE_RATE_LIMIT_KEY_REPORTS_PER_MINUTE), 0 for no limit"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["service__name", "created_at"]

    def __str__(self) -> str:
        return f"{self.service.name} / {self.label} ({self.key_prefix}…)"


class ClassificationRule(models.Model):
    """An operator's code → category/severity rule, overriding the built-in table."""

    code = models.CharField(
        max_length=200,
        unique=True,
        help_text="Error code, exception type, HTTP status or errno name, e.g. ECONNRESET, "
        "OperationalError, 503",
    )
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(
        max_length=16,
        choices=SEVERITY_CHOICES,
        blank=True,
        help_text="Leave blank to follow the category, as the seed's determineSeverity does",
    )
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} → {self.category}/{self.severity or 'by category'}"


class ErrorGroup(models.Model):
    """All occurrences of one failure, as the digest groups them by fingerprint."""

    class Status(models.TextChoices):
        OPEN = "OPEN", "Open"
        RESOLVED = "RESOLVED", "Resolved"
        MUTED = "MUTED", "Muted"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="groups")
    fingerprint = models.CharField(max_length=64)
    title = models.CharField(max_length=255)
    culprit = models.CharField(max_length=255, blank=True)
    name = models.CharField(max_length=200, blank=True, help_text="Exception type")
    code = models.CharField(max_length=200, blank=True)
    operation = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    times_seen = models.BigIntegerField(default=0)
    regression_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_in_release = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        help_text="Resolved in next release: the release current then (empty: none known); "
        "only an event from another release reopens the group. Null: resolved outright",
    )
    muted_until = models.DateTimeField(
        null=True, blank=True, help_text="Empty while muted means muted until resolved"
    )
    muted_until_times_seen = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Muted for N more events: unmuted once times seen passes this",
    )
    # Every environment and the recent releases are in GroupEnvironment / GroupRelease
    # (models/group_seen.py); `environment` above stays the first event's.
    first_release = models.CharField(
        max_length=200, blank=True, help_text="The release of the first event that named one"
    )
    last_release = models.CharField(
        max_length=200, blank=True, help_text="The release most recently seen"
    )
    needs_manual_intervention = models.BooleanField(
        default=False,
        help_text="A DEAD_LETTER decision with nothing to replay (no payload or no "
        "operation) was made for it: someone must act. Cleared when the group is resolved",
    )
    unhandled = models.BooleanField(
        default=False,
        help_text="Any of its events was not handled by the application (the Sentry SDK's "
        "mechanism.handled false: a crash, an unhandled rejection)",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "fingerprint"], name="group_fingerprint")
        ]
        indexes = [
            models.Index(fields=["-last_seen"], name="group_last_seen"),
            models.Index(fields=["status", "-last_seen"], name="group_status_last_seen"),
            # The "needs manual intervention" filter: a handful of groups at any time.
            models.Index(
                fields=["-last_seen"],
                name="group_needs_intervention",
                condition=Q(needs_manual_intervention=True),
            ),
        ]
        permissions = [("triage_errorgroup", "Can resolve, reopen, mute and assign error groups")]

    def __str__(self) -> str:
        return self.title


class GroupHistory(models.Model):
    """What happened to a group and who did it: the triage audit trail."""

    class Action(models.TextChoices):
        RESOLVED = "RESOLVED", "Resolved"
        REOPENED = "REOPENED", "Reopened"
        MUTED = "MUTED", "Muted"
        ASSIGNED = "ASSIGNED", "Assigned"
        UNASSIGNED = "UNASSIGNED", "Unassigned"
        REGRESSED = "REGRESSED", "Regressed"
        UNMUTED = "UNMUTED", "Mute expired"

    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="history")
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, default="admin", help_text="admin, api or system")
    at = models.DateTimeField(default=timezone.now)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "group history"

    def __str__(self) -> str:
        who = self.actor or "system"
        return f"{self.get_action_display()} by {who} at {self.at:%Y-%m-%d %H:%M}"


class ErrorLogEntry(models.Model):
    """One reported occurrence, stored on accept and grouped later by the digest."""

    class Source(models.TextChoices):
        API = "api", "API"
        SENTRY = "sentry", "Sentry SDK"
        GUARD = "guard", "In-process guard"

    class Outcome(models.TextChoices):
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    # No index of their own: entry_event_id (service, event_id) and entry_in_group_recent
    # (group, -id) lead with them, so one would only cost every insert.
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="entries",
                                db_index=False)
    event_id = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    group = models.ForeignKey(
        ErrorGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries",
        db_index=False,
    )
    received_at = models.DateTimeField(default=timezone.now)
    timestamp = models.DateTimeField(help_text="When it happened, as the reporter says")
    digested_at = models.DateTimeField(null=True, blank=True)

    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    retryable = models.BooleanField()
    recoverable = models.BooleanField()
    strategy = models.CharField(max_length=16, choices=STRATEGY_CHOICES)
    retry_after_ms = models.PositiveIntegerField(null=True, blank=True)
    classification = models.JSONField(default=dict, help_text="Including the cause chain")

    code = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    errno = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    stack_trace = models.TextField(blank=True)
    operation = models.CharField(max_length=200, blank=True)
    component = models.CharField(max_length=200, blank=True)
    campaign_id = models.CharField(max_length=128, blank=True)
    timer_id = models.CharField(max_length=128, blank=True)
    user_id = models.CharField(max_length=128, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    environment = models.CharField(max_length=64, blank=True)
    release = models.CharField(max_length=200, blank=True)
    context = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(null=True, blank=True)
    cause = models.JSONField(null=True, blank=True)
    fingerprint = models.JSONField(
        null=True, blank=True, help_text="The reporter's own grouping parts, if it sent any"
    )
    extra = models.JSONField(
        default=dict, blank=True, help_text="Tags, user, request and other reporter data"
    )

    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)

    # Set aside by the digest, which could not process the row (services/quarantine.py);
    # it stays undigested until an operator releases it.
    quarantined_at = models.DateTimeField(null=True, blank=True)
    quarantine_reason = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "error log entries"
        constraints = [
            models.UniqueConstraint(fields=["service", "event_id"], name="entry_event_id")
        ]
        indexes = [
            # The digest's work queue: only undigested rows are in it, so it stays tiny.
            models.Index(fields=["id"], name="entry_pending", condition=Q(digested_at=None)),
            models.Index(fields=["timestamp"], name="entry_timestamp"),
            models.Index(fields=["service", "timestamp"], name="entry_service_time"),
            models.Index(fields=["category", "timestamp"], name="entry_category_time"),
            models.Index(fields=["severity", "timestamp"], name="entry_severity_time"),
            # Partial where most rows have nothing to find (no campaign; no operation, or
            # not grouped yet, at ingest): an insert maintains only the indexes it is in.
            # `operation = 'x'` and `group_id = 7` imply the conditions, so the planner
            # uses them as before.
            models.Index(fields=["operation", "timestamp"], name="entry_operation_set_time",
                         condition=~Q(operation="")),
            models.Index(fields=["campaign_id", "timestamp"], name="entry_campaign_set_time",
                         condition=~Q(campaign_id="")),
            # A group's most recent occurrences (the group page, the group's entries).
            models.Index(fields=["group", "-id"], name="entry_in_group_recent",
                         condition=Q(group__isnull=False)),
            # Quarantined entries (the /metrics count, the admin filter): a handful of rows.
            models.Index(
                fields=["quarantined_at"],
                name="entry_quarantined",
                condition=Q(quarantined_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.code or 'Error'}: {self.message[:80]}"


# A rollup row's key: one row per bucket and each of these (the upserts' ON CONFLICT).
ROLLUP_KEY = ("bucket", "service", "group", "environment", "category", "severity", "code",
              "strategy")


class RollupCounts(models.Model):
    """What an hourly rollup row holds beside its bucket and group."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    code = models.CharField(max_length=200, blank=True)
    strategy = models.CharField(max_length=16, choices=STRATEGY_CHOICES)
    count = models.BigIntegerField(default=0)
    # Outcomes the callers reported for these entries (POST …/errors/{id}/outcome/, the
    # guard's fallbacks); count - succeeded - failed is still unknown.
    succeeded = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        abstract = True


class ErrorMetric(RollupCounts):
    """Hourly rollup of entries. Dashboards read these and never scan the entries."""

    bucket = models.DateTimeField(help_text="Start of the hour (UTC)")
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="metrics")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=list(ROLLUP_KEY),
                name="metric_bucket_key",
            )
        ]
        indexes = [
            models.Index(fields=["bucket"], name="metric_bucket"),
            # The dashboard scoped to one service (a service key's view, ?service=).
            models.Index(fields=["service", "bucket"], name="metric_service_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:00} {self.category}/{self.severity}: {self.count}"


# The rollup tiers derived from the hourly rollups (ErrorMetric), each always the sum of the
# hourly rows it covers; every writer of ErrorMetric keeps them in the same transaction
# (resilience/digest/rollup_tiers.py writes them, digest/rollup_days.py rebuilds them). Long
# dashboard ranges read them instead of the hourly rows (observability/dashboard.py).
HOUR_TOTAL_KEY = ("bucket", "service", "environment")
DAY_TOTAL_KEY = ("bucket", "service", "environment", "category", "severity", "strategy", "code",
                 "codeless_group")
DAY_GROUP_KEY = ("bucket", "group", "environment")


class MetricHourTotal(models.Model):
    """Errors per hour, service and environment: the dashboard's hourly trend, without a row
    per group, code or classification."""

    bucket = models.DateTimeField(help_text="Start of the hour (UTC)")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=64, blank=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=list(HOUR_TOTAL_KEY), name="metric_hour_total_key")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:00} {self.environment or '-'}: {self.count}"


class MetricDayTotal(models.Model):
    """Errors per UTC day by service, environment, category, severity, strategy and code,
    with their outcomes: the breakdowns, the recovery rate and the top codes of whole days,
    without a row per group. A code-less row is kept per group (`codeless_group`, its id),
    since the group's exception type stands in for the code; 0 on rows with a code."""

    bucket = models.DateTimeField(help_text="Start of the day (00:00 UTC)")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    strategy = models.CharField(max_length=16, choices=STRATEGY_CHOICES)
    code = models.CharField(max_length=200, blank=True)
    # No foreign key: 0 means "has a code". A deleted group's rows are rebuilt away.
    codeless_group = models.BigIntegerField(default=0)
    count = models.BigIntegerField(default=0)
    succeeded = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=list(DAY_TOTAL_KEY), name="metric_day_total_key")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} {self.category}/{self.severity}: {self.count}"


class MetricDayGroup(models.Model):
    """Errors per UTC day, group and environment: the top groups of whole days, one row per
    group where the hourly rollups have one per code and strategy too."""

    bucket = models.DateTimeField(help_text="Start of the day (00:00 UTC)")
    group = models.ForeignKey(ErrorGroup, on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=64, blank=True)
    # The group's service (not part of the key): what a service's view filters on.
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+")
    count = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=list(DAY_GROUP_KEY), name="metric_day_group_key")
        ]
        indexes = [
            # The dashboard scoped to one service; the unique key serves the others.
            models.Index(fields=["service", "bucket"], name="metric_day_group_service"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d} group {self.group_id}: {self.count}"
