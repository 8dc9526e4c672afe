"""Operators' API tokens (`Authorization: Token <token>`), stored as SHA-256 only."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class OperatorToken(models.Model):
    """An operator's API token. Like a service key it is random and long, so a plain SHA-256
    is enough to store it (no salt or slow hash: nothing to guess); the raw token is shown
    once, when it is made, and the prefix lets people recognise it afterwards."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    label = models.CharField(max_length=100, default="default")
    key_prefix = models.CharField(max_length=12, help_text="First characters, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["user__username", "-created_at"]
        # Not about tokens, but this app is the home of operator access: the Sentry DSN
        # (and its public key) lets anyone report as that service, so only superusers and
        # holders of this permission see it (resilience/admin/services.py).
        permissions = [("view_dsn", "Can see services' Sentry DSNs and public keys")]

    def __str__(self) -> str:
        return f"{self.user} / {self.label} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
