"""Failed logins and lockouts, on the log and in the audit trail.

django-axes counts the failures (AccessAttempt, AccessFailureLog: superusers see both in
the admin) and locks a username + address out after LOGIN_FAILURE_LIMIT of them. Here every
failure and lockout is also a log line on `faultline.security`, so the usual log shipping
sees an attack without reading axes' tables. The lockout's AuditEvent is written by
resilience (resilience/observability/lockout_audit.py), which owns the audit trail:
accounts imports nothing of resilience.
"""

import logging

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts.client_ip import client_ip

log = logging.getLogger("faultline.security")

# What an attacker types as a username ends up in logs: keep it short and printable.
_MAX_USERNAME = 150


def printable_username(value: object) -> str:
    text = str(value or "")[:_MAX_USERNAME]
    return "".join(ch if ch.isprintable() else "?" for ch in text)


@receiver(user_login_failed, dispatch_uid="faultline.login_failed")
def log_failed_login(sender, credentials: dict, request=None, **kwargs) -> None:
    log.warning(
        "login failed: username=%r address=%s path=%s",
        printable_username(credentials.get("username")),
        client_ip(request) if request is not None else "-",
        request.path if request is not None else "-",
    )


@receiver(user_locked_out, dispatch_uid="faultline.locked_out")
def log_lockout(sender, request, username: str | None, ip_address: str | None,
                **kwargs) -> None:
    log.warning("login locked out: username=%r address=%s", printable_username(username),
                ip_address)
