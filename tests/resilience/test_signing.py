"""Webhook signatures (pure): what a sender signs is what a receiver accepts, and nothing
else."""

import hashlib
import hmac

import pytest

from resilience.core.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signature,
    verify,
)

SECRET = "whsec-0123456789"
BODY = b'{"dead_letter_id":1,"payload":{"order":7}}'
NOW = 1_735_689_600


def check(headers, *, body=BODY, secret=SECRET, now=NOW, tolerance=300):
    verify(secret, body, timestamp=headers.get(TIMESTAMP_HEADER),
           signature_header=headers.get(SIGNATURE_HEADER), now=now, tolerance=tolerance)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = sign(SECRET, BODY, timestamp=NOW)
    assert headers == {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: f"v1={expected}"}
    assert signature(SECRET, NOW, BODY.decode()) == expected


def test_a_signed_body_verifies():
    check(sign(SECRET, BODY, timestamp=NOW))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"body": BODY + b" "}, "does not match"),
        ({"secret": "another-secret"}, "does not match"),
        ({"now": NOW + 301}, "tolerance"),
        ({"now": NOW - 301}, "tolerance"),
    ],
)
def test_a_changed_body_secret_or_stale_timestamp_is_refused(change, why):
    with pytest.raises(SignatureError, match=why):
        check(sign(SECRET, BODY, timestamp=NOW), **change)


def test_a_timestamp_changed_in_transit_breaks_the_signature():
    headers = sign(SECRET, BODY, timestamp=NOW)
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    with pytest.raises(SignatureError, match="does not match"):
        check(headers)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "v1=00"}, "not an integer"),
        ({TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v0=abc"}, "no v1"),
    ],
)
def test_missing_or_malformed_headers_are_refused(headers, why):
    with pytest.raises(SignatureError, match=why):
        check(headers)


def test_any_one_of_several_signatures_is_enough_during_secret_rotation():
    new = sign(SECRET, BODY, timestamp=NOW)[SIGNATURE_HEADER]
    old = sign("the-old-secret", BODY, timestamp=NOW)[SIGNATURE_HEADER]
    check({TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: f"{old}, {new}"})


def test_signing_needs_a_secret():
    with pytest.raises(ValueError, match="secret"):
        sign("", BODY, timestamp=NOW)
    with pytest.raises(SignatureError):
        check(sign(SECRET, BODY, timestamp=NOW), secret="")
