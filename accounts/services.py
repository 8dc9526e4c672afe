"""Operator API tokens: create (the raw token is returned once), revoke, authenticate.

The admin records who made or revoked a token in its own history (LogEntry).
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from accounts.models import OperatorToken

TOKEN_PREFIX = "flo_"
# How stale `last_used_at` may get: one UPDATE a minute per token, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def operator_token_create(
    *, user: AbstractBaseUser, label: str = "default", created_by: AbstractBaseUser | None = None
) -> tuple[OperatorToken, str]:
    """Make a token for `user`; the raw token is returned here and never stored."""
    raw_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = OperatorToken.objects.create(
        user=user, label=label, key_prefix=raw_token[:10], key_hash=hash_token(raw_token),
        created_by=created_by,
    )
    return token, raw_token


def operator_token_revoke(*, token: OperatorToken, actor: AbstractBaseUser | None) -> OperatorToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def operator_token_authenticate(raw_token: str) -> OperatorToken | None:
    """The active token with this value, its user loaded; None when unknown or revoked.

    Looked up by its hash (a unique index), so the comparison never touches the secret."""
    token = (
        OperatorToken.objects.select_related("user")
        .filter(key_hash=hash_token(raw_token), revoked_at=None)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        OperatorToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
