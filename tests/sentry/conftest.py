"""Fixtures for the Sentry endpoints: a service with a key, and its auth header."""

import pytest

from tests import factories


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
