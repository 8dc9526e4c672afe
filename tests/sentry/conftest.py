"""Fixtures for the Sentry endpoints: a service with a key, and its auth header; the real
Python SDK pointed at the live server."""

import pytest
import sentry_sdk

from resilience.ingest.keys import service_key_dsn
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


@pytest.fixture
def keys(service):
    """(ServiceKey, raw API key) of `service`: the DSN for the SDK, the key for the API."""
    return factories.service_key(service)


@pytest.fixture
def start_sdk(live_server, keys, settings):
    """Starts the SDK against the live server (options added to the defaults below)."""
    settings.EXTERNAL_URL = live_server.url

    def start(**options):
        sentry_sdk.init(**{
            "dsn": service_key_dsn(keys[0]),
            "release": "shop@2.1.0",
            "environment": "sdk-test",
            "server_name": "web-1",
            "default_integrations": False,
            "auto_enabling_integrations": False,
            "auto_session_tracking": False,
            "send_client_reports": False,
            **options,
        })
        return sentry_sdk

    yield start
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK is off for the tests that follow


@pytest.fixture
def sdk(start_sdk):
    return start_sdk()
