"""Alerting: where alerts go (Channel), which go where (AlertRule), what is muted
(Silence), and the record of every alert and every attempt to deliver it.

Alerts, deliveries and attempts are written by the system and only read in the admin.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from alerts.routing import LEVELS, Kind
from resilience.models import CATEGORY_CHOICES, ErrorGroup, Service
from resilience.outbound.calls import destination_problem

LEVEL_CHOICES = [(level, level.title()) for level in LEVELS]
KIND_CHOICES = [(kind.value, kind.value.replace("_", " ").capitalize()) for kind in Kind]
NOT_CONFIGURED = "not configured"


class Channel(models.Model):
    """Somewhere alerts are delivered. Transports: alerts/transports/ (one per kind)."""

    class Kind(models.TextChoices):
        EMAIL = "EMAIL", "Email"
        SLACK = "SLACK", "Slack (incoming webhook)"
        WEBHOOK = "WEBHOOK", "Webhook (HMAC-signed JSON)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, unique=True)
    recipients = models.TextField(
        blank=True, help_text="Email: addresses, separated by commas or new lines"
    )
    url = models.URLField(
        max_length=500, blank=True,
        help_text="Slack: the incoming-webhook URL. Webhook: where the JSON is POSTed",
    )
    secret = models.CharField(
        max_length=128, blank=True, help_text="Webhook: the HMAC-SHA256 signing key"
    )
    enabled = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=255, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def recipient_list(self) -> list[str]:
        parts = self.recipients.replace("\n", ",").replace(";", ",").split(",")
        return [p.strip() for p in parts if p.strip()]

    def configuration_problem(self) -> str:
        """What is missing before this channel can deliver ("" when nothing is)."""
        if self.kind == self.Kind.EMAIL:
            return "" if self.recipient_list() else "no recipients"
        if not self.url:
            return "no URL"
        if self.kind == self.Kind.WEBHOOK and not self.secret:
            return "no signing secret"
        return ""

    def clean(self) -> None:
        for address in self.recipient_list():
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError({"recipients": f"Not an email address: {address}"}) from None
        # The same destination policy as every send (resilience/outbound/calls.py), at save time.
        refused = destination_problem(self.url) if self.url and self.kind != self.Kind.EMAIL \
            else ""
        if refused:
            raise ValidationError({"url": f"Not allowed: {refused}."})
        problem = self.configuration_problem()
        if self.enabled and problem:
            raise ValidationError(f"Cannot enable this channel: {problem}.")


class AlertRule(models.Model):
    """Which alerts go to which channels. Blank matchers match anything."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    min_level = models.CharField(
        max_length=16, choices=LEVEL_CHOICES, blank=True,
        help_text="This level and above (leave empty when using exact levels)",
    )
    levels = models.JSONField(
        default=list, blank=True, help_text="Exactly these levels (empty: use the minimum)"
    )
    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, blank=True)
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    operation = models.CharField(
        max_length=200, blank=True, help_text="Exact name or a pattern such as payment.*"
    )
    environment = models.CharField(max_length=64, blank=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    throttle_minutes = models.PositiveIntegerField(
        default=10, help_text="One alert per group (or subject) per this many minutes"
    )
    threshold_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="N: alert when a group has N events ..."
    )
    threshold_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="... within M minutes"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = set(self.levels or []) - set(LEVELS)
        if unknown:
            raise ValidationError({"levels": f"Unknown level(s): {', '.join(sorted(unknown))}"})
        if self.min_level and self.levels:
            raise ValidationError("Set a minimum level or exact levels, not both.")
        if bool(self.threshold_count) != bool(self.threshold_minutes):
            raise ValidationError("A threshold needs both N (events) and M (minutes).")
        from resilience import conf

        cap = conf.get("ALERT_THRESHOLD_MAX_COUNT")
        if self.threshold_count and self.threshold_count > cap:
            raise ValidationError({"threshold_count": f"At most {cap}."})


class Silence(models.Model):
    """Mutes a group, a service or a rule (all that are set must match) for a while."""

    group = models.ForeignKey(
        ErrorGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="silences"
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ends_at", "-id"]
        indexes = [models.Index(fields=["ends_at"], name="silence_ends_at")]
        # Triagers create and end silences; editing one stays with superusers.
        permissions = [("create_silence", "Can create and end silences")]

    def __str__(self) -> str:
        what = ", ".join(str(x) for x in (self.group, self.service, self.rule) if x)
        return f"Silence {what or '(nothing)'} until {self.ends_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if not (self.group_id or self.service_id or self.rule_id):
            raise ValidationError("Choose a group, a service or a rule to silence.")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Must be after the start."})


class Alert(models.Model):
    """One alert: something that matters, routed by the rules. Written before sending."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        DELIVERED = "DELIVERED", "Delivered"
        UNDELIVERED = "UNDELIVERED", "Undelivered"
        SUPPRESSED = "SUPPRESSED", "Suppressed"
        LOGGED = "LOGGED", "Logged only"

    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    level = models.CharField(max_length=16, choices=LEVEL_CHOICES)
    title = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    subject_key = models.CharField(max_length=200, help_text="What the throttle counts per")
    group_key = models.CharField(max_length=255, help_text="Stable key sent to receivers")
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    group = models.ForeignKey(
        ErrorGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    rules = models.ManyToManyField(AlertRule, blank=True, related_name="+")
    occurrences = models.PositiveIntegerField(
        default=1, help_text="Occurrences it stands for, including those counted into it later"
    )
    previous_count = models.PositiveIntegerField(
        default=0, help_text="Occurrences held back by the throttle before this alert"
    )
    previous_since = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(
        max_length=255, blank=True, help_text="Why it was suppressed, logged only or undelivered"
    )
    content = models.JSONField(default=dict, help_text="What every channel is sent")
    created_at = models.DateTimeField(default=timezone.now)
    critical_logged_at = models.DateTimeField(
        null=True, blank=True, help_text="When it went to the critical log, undelivered"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at"], name="alert_created"),
            models.Index(fields=["status", "-created_at"], name="alert_status_created"),
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.title}"


class AlertDelivery(models.Model):
    """An alert on one channel. Written before the first attempt (healthchecks' order)."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        SENT = "SENT", "Sent"
        FAILED = "FAILED", "Failed"
        SUPPRESSED = "SUPPRESSED", "Suppressed"
        UNDELIVERED = "UNDELIVERED", "Undelivered"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel_name = models.CharField(max_length=100)
    channel_kind = models.CharField(max_length=16, choices=Channel.Kind.choices)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            # The sweep's work queue (alerts_redeliver_due): only PENDING rows are in it.
            models.Index(fields=["next_attempt_at"], name="delivery_pending",
                         condition=Q(status="PENDING")),
            models.Index(fields=["status", "-created_at"], name="delivery_status_created"),
        ]
        permissions = [("resend_alertdelivery", "Can resend a failed alert delivery")]

    def __str__(self) -> str:
        return f"{self.alert} → {self.channel_name}: {self.status}"


class AlertAttempt(models.Model):
    """One try at a delivery: written as it starts, finished when it ends."""

    class Outcome(models.TextChoices):
        SENT = "SENT", "Sent"
        FAILED = "FAILED", "Failed"

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    permanent = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome or 'in flight'}"


class AlertThrottle(models.Model):
    """Per rule and subject: when the last alert went and what has been held back since."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    last_alert_at = models.DateTimeField(null=True, blank=True)
    last_alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    count = models.BigIntegerField(default=0)
    count_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "key"], name="alert_throttle_rule_key")
        ]
        # Counting a digest batch into the windows looks rows up by subject alone.
        indexes = [models.Index(fields=["key"], name="alert_throttle_key")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.key}"
