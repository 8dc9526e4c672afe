"""Signing outbound webhooks, and checking such a signature (pure, standard library only).

The scheme is Stripe's and Slack's: HMAC-SHA256, keyed with the target's secret, over
``f"{timestamp}.{body}"``, where the timestamp is Unix seconds sent alongside. Binding the
time into the signature lets a receiver refuse a captured request replayed later; the
tolerance bounds how much clock skew (and delivery delay) it accepts.

    X-Faultline-Timestamp: 1735689600
    X-Faultline-Signature: v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

The signature header may carry several comma-separated ``v1=`` values (one per secret while
a secret is being rotated); one match is enough. Used by dead-letter replay and alert
webhooks alike.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Faultline-Timestamp"
SIGNATURE_HEADER = "X-Faultline-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, malformed, stale or does not match."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def signature(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    message = f"{int(timestamp)}.".encode() + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, *, timestamp: int) -> dict[str, str]:
    """The headers to send with ``body``: the timestamp and ``v1=<hex>``."""
    if not secret:
        raise ValueError("a signing secret is required")
    return {
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def verify(
    secret: str | bytes,
    body: str | bytes,
    *,
    timestamp: str | None,
    signature_header: str | None,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a received request; raises SignatureError saying why it is refused.

    ``body`` must be the raw bytes as received (not re-serialised JSON). ``now`` is the
    receiver's Unix time; a timestamp further than ``tolerance`` seconds from it, either
    way, is refused.
    """
    if not secret:
        raise SignatureError("no secret to verify with")
    if not timestamp or not signature_header:
        raise SignatureError("missing timestamp or signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = signature(secret, sent_at, body)
    candidates = []
    for part in signature_header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and value:
            candidates.append(value)
    if not candidates:
        raise SignatureError(f"no {SCHEME}= signature")
    # compare_digest on every candidate: no early exit that would leak timing.
    matched = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not any(matched):
        raise SignatureError("signature does not match")
