"""Service credentials: create (the raw key is returned once), revoke, authenticate."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from resilience import conf
from resilience.infra.ttl_cache import MISSING, TtlCache
from resilience.models import Service, ServiceKey

API_KEY_PREFIX = "fl_"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def service_key_create(
    *, service: Service, label: str = "default", created_by=None, rate_limit_per_minute=None
) -> tuple[ServiceKey, str]:
    """Create a key; the raw API key is returned here and never stored."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ServiceKey.objects.create(
        service=service,
        label=label,
        key_prefix=raw_key[:10],
        key_hash=hash_key(raw_key),
        public_key=secrets.token_hex(16),
        created_by=created_by,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return key, raw_key


def service_key_dsn(key: ServiceKey) -> str:
    """The Sentry DSN for a key: {scheme}://{public_key}@{host}{path}/{project id}.

    The project id is the service's id; the host and path come from EXTERNAL_URL.
    https://develop.sentry.dev/sdk/overview/#parsing-the-dsn
    """
    url = urlsplit(settings.EXTERNAL_URL)
    return f"{url.scheme}://{key.public_key}@{url.netloc}{url.path.rstrip('/')}/{key.service_id}"


@transaction.atomic
def service_key_revoke(*, key: ServiceKey, actor) -> ServiceKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = actor
        key.save(update_fields=["revoked_at", "revoked_by"])
    _cache.clear()
    return key


@dataclass(frozen=True)
class AuthenticatedKey:
    key_id: int
    service_id: int
    revoked: bool
    # Reports per minute in effect: the key's own limit, or RATE_LIMIT_KEY_REPORTS_PER_MINUTE
    # when it has none; 0 is no limit.
    rate_limit_per_minute: int | None = None


def _reports_per_minute(own: int | None) -> int:
    return conf.get("RATE_LIMIT_KEY_REPORTS_PER_MINUTE") if own is None else own


# A short in-process cache keeps the key lookup off the database on the hot path. A
# revocation reaches other processes within AUTH_CACHE_SECONDS (0 disables the cache).
_cache = TtlCache(max_entries=10_000)


def _lookup(field: str, value: str) -> AuthenticatedKey | None:
    ttl = conf.get("AUTH_CACHE_SECONDS")
    cache_key = f"{field}:{value}"
    if ttl and (hit := _cache.fresh(cache_key)) is not MISSING:
        return hit
    try:
        row = (
            ServiceKey.objects.filter(**{field: value})
            .values_list("id", "service_id", "revoked_at", "rate_limit_per_minute")
            .first()
        )
    except (OperationalError, InterfaceError):
        # The database is down: the last answer, however old, keeps reports flowing into
        # the spool; with none, the caller cannot be checked and the outage is the answer.
        if (known := _cache.last_known(cache_key)) is not MISSING:
            return known
        raise
    found = (
        AuthenticatedKey(row[0], row[1], row[2] is not None, _reports_per_minute(row[3]))
        if row else None
    )
    if ttl:
        _cache.put(cache_key, found, ttl=ttl)
    return found


def authenticate_api_key(raw_key: str) -> AuthenticatedKey | None:
    return _lookup("key_hash", hash_key(raw_key))


# What service_key_create makes (32 hex digits), with room to spare. Anything else is not
# a key and is not looked up: no query for junk, and no NUL byte sent to PostgreSQL.
_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def authenticate_public_key(public_key: str) -> AuthenticatedKey | None:
    if not _PUBLIC_KEY.fullmatch(public_key):
        return None
    return _lookup("public_key", public_key)
