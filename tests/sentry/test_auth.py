"""Credentials: where Sentry SDKs put the key, and what conflicts."""

import pytest

from resilience.sentry.auth import (
    SentryAuthError,
    parse_auth_header,
    request_public_key,
    resolve_public_key,
)


def test_the_auth_header_is_parsed():
    header = "Sentry sentry_version=7, sentry_client=sentry.python/2.75.0, sentry_key=abc123"
    assert parse_auth_header(header) == {
        "sentry_version": "7", "sentry_client": "sentry.python/2.75.0", "sentry_key": "abc123",
    }
    assert parse_auth_header("sentry_key=abc,sentry_secret=old")["sentry_key"] == "abc"


def test_the_key_comes_from_the_header_or_the_query_string():
    assert request_public_key(header="Sentry sentry_key=abc", query_key=None) == "abc"
    assert request_public_key(header=None, query_key="abc") == "abc"
    assert request_public_key(header="Sentry sentry_key=abc", query_key="abc") == "abc"
    assert request_public_key(header=None, query_key=None) is None


def test_a_header_without_a_key_is_a_403():
    with pytest.raises(SentryAuthError) as caught:
        request_public_key(header="Sentry sentry_version=7", query_key=None)
    assert caught.value.status == 403


def test_different_keys_in_header_and_query_string_conflict():
    with pytest.raises(SentryAuthError, match="conflicting") as caught:
        request_public_key(header="Sentry sentry_key=abc", query_key="def")
    assert caught.value.status == 400


def test_the_envelope_dsn_supplies_or_confirms_the_key():
    dsn = "https://abc@errors.example.com/7"
    assert resolve_public_key(request_key=None, envelope_dsn=dsn, project_id=7) == "abc"
    assert resolve_public_key(request_key="abc", envelope_dsn=dsn, project_id=7) == "abc"
    with pytest.raises(SentryAuthError, match="conflicting"):
        resolve_public_key(request_key="def", envelope_dsn=dsn, project_id=7)
    with pytest.raises(SentryAuthError, match="project 7"):
        resolve_public_key(request_key="abc", envelope_dsn=dsn, project_id=8)
    with pytest.raises(SentryAuthError, match="not a DSN"):
        resolve_public_key(request_key=None, envelope_dsn="nonsense", project_id=7)
    with pytest.raises(SentryAuthError, match="missing") as caught:
        resolve_public_key(request_key=None, envelope_dsn=None, project_id=7)
    assert caught.value.status == 403
