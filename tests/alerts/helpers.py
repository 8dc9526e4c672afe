"""Making entries, digesting them and running the alert evaluation, as production does."""

from __future__ import annotations

from django.test import TestCase

from alerts.hooks import digest_payload
from resilience.digest.service import digest_batch
from tests.factories import ErrorLogEntryFactory

CRITICAL = dict(severity="CRITICAL", strategy="IMMEDIATE_ALERT", category="SECURITY",
                code="EACCES", name="PermissionError", message="token signature invalid",
                operation="auth.verify")


def entries(service, n: int = 1, **fields):
    return [ErrorLogEntryFactory(service=service, **fields) for _ in range(n)]


def digest(queue=None) -> dict:
    """Digest everything pending, with the after-commit hook run; returns the payload the
    hook queued (also left in ``queue`` when one is given)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = digest_batch(limit=1000)
    return digest_payload(result)
