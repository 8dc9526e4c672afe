"""A login lockout (django-axes' `user_locked_out`) in the audit trail, as AuditEvent
`auth.locked_out`. accounts logs it; the audit trail is resilience's, so the receiver
lives here and accounts never imports resilience (connected in ResilienceConfig.ready)."""

from axes.signals import user_locked_out
from django.dispatch import receiver

from accounts.login_audit import printable_username
from resilience.models import AuditEvent


@receiver(user_locked_out, dispatch_uid="faultline.locked_out.audit")
def audit_lockout(sender, request, username: str | None, ip_address: str | None,
                  **kwargs) -> None:
    username = printable_username(username)
    AuditEvent.objects.create(
        action="auth.locked_out", actor=None, via="system", target_type="user",
        target_id=username[:64], detail={"username": username, "address": ip_address or ""},
    )
