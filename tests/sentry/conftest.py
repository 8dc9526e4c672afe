"""Fixtures for the Sentry endpoints: a service with a key, and its auth header."""

import pytest
from django.core.cache import cache

from tests import factories


def _forget_rate_limit_windows() -> None:
    # Test databases number keys from 1 again on every run, so a window counted by the
    # previous run (kept for a minute in Redis) must not count against this one. Only the
    # rate-limit keys: the Redis database may hold other tests' state.
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("ratelimit:*")
    else:
        cache.clear()  # the per-process local-memory cache


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    _forget_rate_limit_windows()
    yield
    _forget_rate_limit_windows()


@pytest.fixture
def sentry_key(service):
    """The ServiceKey of `service` (its public key is what a DSN carries)."""
    return factories.service_key(service)[0]


@pytest.fixture
def auth_header(sentry_key):
    return (
        "Sentry sentry_version=7, sentry_client=faultline-tests/1.0, "
        f"sentry_key={sentry_key.public_key}"
    )
