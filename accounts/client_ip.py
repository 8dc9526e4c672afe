"""The client's address for login throttling (django-axes' AXES_CLIENT_IP_CALLABLE).

REMOTE_ADDR is the peer. Behind TRUSTED_PROXY_COUNT reverse proxies (nginx in deploy/),
the peer is the nearest proxy, and the client is the address the outermost of them saw:
the TRUSTED_PROXY_COUNT-th entry from the right of X-Forwarded-For. Entries further left
were written by the client itself and are never believed.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def forwarded_for(request: HttpRequest, trusted_proxies: int) -> str | None:
    """Pure rule: the address `trusted_proxies` hops back, or None when it is not there."""
    if trusted_proxies <= 0:
        return None
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    if len(hops) < trusted_proxies:
        return None
    candidate = hops[-trusted_proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    return forwarded_for(request, trusted) or request.META.get("REMOTE_ADDR") or None
