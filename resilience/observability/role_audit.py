"""A role given or taken away on the user page (accounts' `role_changed`) in the audit
trail, as AuditEvent `user.role_change`. Like the lockout (lockout_audit.py), the receiver
lives here because accounts never imports resilience (connected in ResilienceConfig.ready).
It runs inside the change's transaction: no change without its record."""

from django.dispatch import receiver

from accounts.role_assignment import role_changed
from resilience.models import AuditEvent


@receiver(role_changed, dispatch_uid="faultline.role_changed.audit")
def audit_role_change(sender, user, actor, via: str, before: str | None,
                      after: str | None, **kwargs) -> None:
    AuditEvent.objects.create(
        action="user.role_change", actor=actor, via=via, target_type="user",
        target_id=str(user.pk),
        detail={"username": user.get_username(), "before": before, "after": after},
    )
