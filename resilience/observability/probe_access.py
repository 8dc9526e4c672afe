"""Who may read /metrics and /readyz's details: one rule for both.

- `Authorization: Bearer <METRICS_TOKEN>` always works (compared in constant time).
- An address in METRICS_ALLOWED_IPS works only for a request that names no other client:
  with X-Forwarded-For, Forwarded or X-Real-IP present the peer is a proxy speaking for
  someone else (a same-host nginx makes every caller 127.0.0.1), so the address proves
  nothing and the token is needed.
- Nothing configured: nobody. There is no implicit "loopback is fine".
"""

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest

log = logging.getLogger("faultline.prometheus")

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def bearer_token_matches(request: HttpRequest, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    offered = header.removeprefix("Bearer ").strip()
    return hmac.compare_digest(offered.encode(), token.encode())


def is_forwarded(request: HttpRequest) -> bool:
    return any(request.META.get(name) for name in FORWARDING_HEADERS)


def address_allowed(request: HttpRequest, allowed: list[str]) -> bool:
    if not allowed or is_forwarded(request):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            log.warning("METRICS_ALLOWED_IPS: %r is not an address or network", entry)
    return False


def may_scrape(request: HttpRequest) -> bool:
    """True for the Prometheus scraper: the token, or an allowed, unproxied address."""
    token = getattr(settings, "METRICS_TOKEN", "")
    allowed = list(getattr(settings, "METRICS_ALLOWED_IPS", None) or [])
    return bearer_token_matches(request, token) or address_allowed(request, allowed)
