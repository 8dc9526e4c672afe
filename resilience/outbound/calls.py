"""The one seam for Faultline's outbound calls: HTTP POSTs and Celery task messages.

Everything that leaves the process to someone else's system (dead-letter replays, alert
webhooks and Slack) goes through here, so every call gets the same rules and every failure
is reported the same way (after bugsink's ``safe_post`` and healthchecks' transports):

- a fixed timeout (``FAULTLINE["OUTBOUND_TIMEOUT_SECONDS"]``), per socket operation;
- redirects are never followed (a 3xx is a permanent failure: the target is misconfigured,
  and following it could send a signed payload somewhere nobody chose);
- only ``http`` and ``https`` URLs;
- the destination policy: only public addresses are called. Private, loopback, link-local
  (169.254.0.0/16 and fe80::/10, where cloud metadata services answer), unique-local,
  shared, multicast, unspecified and reserved addresses are refused unless the operator
  allows them (``OUTBOUND_ALLOW_PRIVATE``, ``OUTBOUND_ALLOWED_NETWORKS``). The check is
  made on the address the socket connects to: the name is resolved once, checked, and
  that very address is connected to (the Host header and TLS SNI keep the name), so a DNS
  answer that changes between a check and the connection (rebinding) cannot get around
  it. ``destination_problem()`` runs the same check when an operator saves a URL;
- header values are sent as printable ASCII only (``header_value``): CR, LF and NUL never
  reach a header, whatever a reporter put in an operation name;
- success returns an ``OutboundResult``; failure raises ``OutboundError`` whose
  ``permanent`` says whether trying again could help: connection errors, timeouts, 5xx,
  408, 425 and 429 are not permanent; any other 4xx, a 3xx, a bad URL or a refused
  destination is.

The standard library's urllib is enough here (no extra dependency). Environment proxy
settings (``HTTPS_PROXY``, ``NO_PROXY``) are honoured as urllib does; through a proxy the
destination's name is checked here, and the proxy, which resolves it again, is trusted
with the rest.
"""

from __future__ import annotations

import functools
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import quote, urlsplit

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from resilience import conf

EXCERPT_CHARS = 1000
_READ_LIMIT = 64 * 1024
USER_AGENT = "Faultline/1 (+outbound)"
# 4xx answers that mean "not now" rather than "never".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class OutboundResult:
    status: int
    body_excerpt: str
    duration_ms: int


class OutboundError(Exception):
    """An outbound call failed. ``permanent``: trying again unchanged will not help."""

    def __init__(
        self, message: str, *, permanent: bool, status: int | None = None,
        body_excerpt: str = "", duration_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.body_excerpt = body_excerpt
        self.duration_ms = duration_ms


class DestinationRefused(OutboundError):
    """The destination policy does not allow this address (permanent: the URL or the
    settings must change)."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message, permanent=True)
        self.rule = rule


# --- the destination policy (pure: addresses in, a rule's name out) ---------------------

_THIS_NETWORK = ip_network("0.0.0.0/8")  # "this host": connecting to it reaches loopback
_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_RFC1918 = (ip_network("10.0.0.0/8"), ip_network("172.16.0.0/12"),
            ip_network("192.168.0.0/16"))
_UNIQUE_LOCAL = ip_network("fc00::/7")
_NAT64 = ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address

RULES = {
    "unspecified": "an unspecified address (0.0.0.0/8, ::)",
    "loopback": "a loopback address (127.0.0.0/8, ::1)",
    "link-local": "a link-local address (169.254.0.0/16, fe80::/10: cloud metadata "
                  "services answer there)",
    "multicast": "a multicast address",
    "unique-local": "a unique-local address (fc00::/7)",
    "shared": "a shared carrier-grade NAT address (100.64.0.0/10)",
    "private": "a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
    "reserved": "a reserved address that is not publicly routable",
}
# What OUTBOUND_ALLOW_PRIVATE lets through. Link-local (metadata), multicast, unspecified
# and reserved addresses need an explicit OUTBOUND_ALLOWED_NETWORKS entry.
PRIVATE_RULES = frozenset({"loopback", "unique-local", "shared", "private"})


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any: such an
    address reaches the IPv4 host, so it is judged as that host."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_rule(address: IPAddress) -> str:
    """The rule (a key of RULES) that refuses ``address``; "" for a public address."""
    if (inner := embedded_ipv4(address)) is not None:
        return address_rule(inner)
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _UNIQUE_LOCAL:
        return "unique-local"
    if address in _SHARED:
        return "shared"
    if any(address in network for network in _RFC1918):
        return "private"
    if address.is_private or address.is_reserved or not address.is_global:
        return "reserved"
    return ""


@dataclass(frozen=True)
class DestinationPolicy:
    allow_private: bool = False
    allowed_networks: tuple = ()  # of IPv4Network / IPv6Network

    def refusal(self, address: IPAddress) -> str:
        """"" when ``address`` may be called, else the rule that refuses it."""
        candidates = [address, *filter(None, [embedded_ipv4(address)])]
        if any(a in net for a in candidates for net in self.allowed_networks):
            return ""
        rule = address_rule(address)
        if not rule or (self.allow_private and rule in PRIVATE_RULES):
            return ""
        return rule


@functools.lru_cache(maxsize=8)
def _policy(allow_private: bool, networks: tuple[str, ...]) -> DestinationPolicy:
    parsed = []
    for text in networks:
        try:
            parsed.append(ip_network(text.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"FAULTLINE OUTBOUND_ALLOWED_NETWORKS: {text!r} is not a network (CIDR) "
                "such as 10.1.2.0/24 or fd00::/8"
            ) from None
    return DestinationPolicy(allow_private=allow_private, allowed_networks=tuple(parsed))


def destination_policy() -> DestinationPolicy:
    """The policy from settings; ImproperlyConfigured naming a malformed network."""
    networks = conf.get("OUTBOUND_ALLOWED_NETWORKS") or ()
    if isinstance(networks, str):
        networks = networks.split(",")
    return _policy(bool(conf.get("OUTBOUND_ALLOW_PRIVATE")),
                   tuple(n for n in networks if n.strip()))


def _current_policy() -> DestinationPolicy:
    # A malformed setting fails the call (permanently, saying why), never the caller.
    try:
        return destination_policy()
    except ImproperlyConfigured as exc:
        raise DestinationRefused(str(exc), rule="misconfigured") from None


@checks.register(checks.Tags.security)
def check_destination_policy(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and migrate) name a malformed OUTBOUND_ALLOWED_NETWORKS."""
    try:
        destination_policy()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="faultline.E101")]
    return []


def refusal_message(host: str, address: IPAddress, rule: str) -> str:
    what = f"{host} ({address})" if str(address) != host else str(address)
    setting = ("FAULTLINE_OUTBOUND_ALLOW_PRIVATE=true or FAULTLINE_OUTBOUND_ALLOWED_NETWORKS"
               if rule in PRIVATE_RULES else "FAULTLINE_OUTBOUND_ALLOWED_NETWORKS")
    return (f"refusing to call {what}: {RULES[rule]}; the outbound destination policy "
            f"calls only public addresses unless {setting} allows it")


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def _judge(addresses: Iterable[IPAddress], policy: DestinationPolicy
           ) -> tuple[list[IPAddress], tuple[IPAddress, str] | None]:
    """The addresses the policy allows; when it allows none, the first refused address
    and its rule."""
    allowed, refused = [], None
    for address in addresses:
        rule = policy.refusal(address)
        if not rule:
            allowed.append(address)
        elif refused is None:
            refused = (address, rule)
    return allowed, (None if allowed else refused)


def _refusal(host: str) -> tuple[IPAddress, str] | None:
    """The refusal for ``host`` as it resolves now (None when allowed or unresolvable)."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        addresses = [ip_address(info[4][0]) for info in infos]
    return _judge(addresses, _current_policy())[1]


def destination_problem(url: str) -> str:
    """Why the policy would refuse ``url`` ("" when it would not), for forms and admin
    checks. A name that does not resolve now is not refused here: it is checked again,
    on the address it resolves to, at every call."""
    try:
        check_url(url)
        host = urlsplit(url).hostname or ""
        refused = _refusal(host)
    except OutboundError as exc:
        return exc.message
    return refusal_message(host, *refused) if refused else ""


# --- connecting to the checked address --------------------------------------------------


def _checked_connection(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,
                        source_address: tuple[str, int] | None = None) -> socket.socket:
    """socket.create_connection, but the name is resolved once and only addresses the
    policy allows are connected to: the address checked is the address used."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    by_address = {}
    for family, kind, proto, _, sockaddr in infos:
        by_address.setdefault(ip_address(sockaddr[0]), (family, kind, proto, sockaddr))
    allowed, refused = _judge(by_address, _current_policy())
    if refused:
        raise DestinationRefused(refusal_message(host, *refused), rule=refused[1])
    error: OSError | None = None
    for candidate in allowed:
        family, kind, proto, sockaddr = by_address[candidate]
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address to connect to for {host}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    # connect() wraps the socket with server_hostname=self.host: SNI and the certificate
    # check keep the name, only the TCP connection goes to the checked address.
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _checked_connection


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context,
                            check_hostname=self._check_hostname)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError for the 3xx itself


# Direct calls: no proxy, every connection checked. Through a proxy (environment
# settings, read per call as urllib does): its own handlers, the name checked in post().
_opener = urllib.request.build_opener(
    _NoRedirects, _CheckedHTTPHandler, _CheckedHTTPSHandler, urllib.request.ProxyHandler({})
)


def _uses_proxy(url: str) -> bool:
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    return parts.scheme in proxies and not urllib.request.proxy_bypass(parts.netloc)


# --- headers and bodies -------------------------------------------------------------------

# Visible ASCII but "%", which stays the escape character so decoding is exact.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def header_quote(value: Any) -> str:
    """``value`` as a header can carry it: its UTF-8 bytes percent-encoded (RFC 3986,
    ``urllib.parse.unquote`` reverses it) outside visible ASCII, and space and "%"
    themselves. A key such as ``faultline:payments:3f9c`` comes out unchanged."""
    return quote(str(value), safe=_HEADER_SAFE)


def header_value(value: Any) -> str:
    """What post() sends for a header value: unchanged when it is printable ASCII, else
    header_quote()d, so a CR/LF or a non-Latin-1 character can never fail the call."""
    text = str(value)
    if all(" " <= ch <= "~" for ch in text):
        return text
    return header_quote(text)


def json_bytes(document: Any, *, compact: bool = True) -> bytes:
    """UTF-8 JSON; a lone surrogate (which UTF-8 cannot carry) is sent as its \\u escape
    rather than failing the call."""
    separators = (",", ":") if compact else None
    text = json.dumps(document, ensure_ascii=False, separators=separators, default=str)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(document, ensure_ascii=True, separators=separators,
                          default=str).encode()


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def check_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL (raises a permanent OutboundError)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"refusing to call {url!r}: only http and https URLs",
                            permanent=True)


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    timeout: float | None = None,
) -> OutboundResult:
    """POST ``body`` to ``url``; a 2xx answer is success, anything else raises."""
    check_url(url)
    timeout = conf.get("OUTBOUND_TIMEOUT_SECONDS") if timeout is None else timeout
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in (headers or {}).items():
        if not name or not set(name) <= _TOKEN:
            raise OutboundError(f"not a header name: {name!r}", permanent=True)
        request.add_header(name, header_value(value))
    opener = _opener
    if _uses_proxy(url):
        host = urlsplit(url).hostname or ""
        if refused := _refusal(host):
            raise DestinationRefused(refusal_message(host, *refused), rule=refused[1])
        opener = urllib.request.build_opener(_NoRedirects)
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read(_READ_LIMIT)
            return OutboundResult(response.status, _excerpt(raw), elapsed())
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            raw = exc.read(_READ_LIMIT)
        except (OSError, ValueError):
            raw = b""
        finally:
            exc.close()
        if 300 <= status < 400:
            where = exc.headers.get("Location", "") if exc.headers else ""
            message = f"HTTP {status}: redirects are not followed (to {where!r})"
            permanent = True
        else:
            message = f"HTTP {status}"
            permanent = 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES
        raise OutboundError(message, permanent=permanent, status=status,
                            body_excerpt=_excerpt(raw), duration_ms=elapsed()) from None
    except DestinationRefused as exc:
        exc.duration_ms = elapsed()
        raise
    except TimeoutError:
        raise OutboundError(f"timed out after {timeout:g}s", permanent=False,
                            duration_ms=elapsed()) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            message = f"timed out after {timeout:g}s"
        else:
            message = f"connection failed: {reason}"
        raise OutboundError(message, permanent=False, duration_ms=elapsed()) from None
    except (OSError, ValueError) as exc:  # reset mid-response, bad status line, …
        raise OutboundError(f"connection failed: {exc}", permanent=False,
                            duration_ms=elapsed()) from None


def send_task(task_name: str, *, kwargs: dict[str, Any], **options: Any) -> str:
    """Publish a message for the Celery task ``task_name`` on the configured broker.

    Routing follows CELERY_TASK_ROUTES like any other message; ``options`` are Celery's
    publishing options (``retry``, ``countdown``). Services queue our own tasks this way,
    by name, so they never import the tasks module that imports them. Returns the task id.
    A broker failure is not permanent (the broker may come back).
    """
    # The project's app (its broker and routes), not celery.current_app: any other Celery
    # app created later in the process (a library's, a test's) would become "current".
    from config.celery_app import app

    if not task_name:
        raise OutboundError("no task name", permanent=True)
    try:
        result = app.send_task(task_name, kwargs=kwargs, **options)
    except Exception as exc:  # noqa: BLE001 - kombu raises many types; all mean "not sent"
        raise OutboundError(f"broker unavailable: {exc}", permanent=False) from None
    return result.id
