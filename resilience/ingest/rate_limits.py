"""Budgets: fixed one-minute windows counted in the shared cache.

On Redis one script creates, bumps and (when over) gives back the window's counter in a
single round trip, atomically, so every web process on every machine counts against one
number. Without Redis `cache.add` and `cache.incr` do the same in the per-process cache,
and so is the limit. A refused request gives its count back, so a batch too big for what
is left does not use the window up for others.

Asking whether a budget is used up before reading a body costs no round trip: each
process remembers the windows it has seen used up (its own counts and refusals tell it),
and the count after the body is read stays the one that decides.

Each key has one budget per scope (what it spends: reports, dead letters, circuit calls);
an address has one for requests that fail authentication. When the cache cannot be
reached the budgets fail open: a limiter outage must not become an ingest outage (counted
in faultline_dependency_fail_open_total{use="rate_limit"}).

Every budget call takes `now` (seconds since the epoch) from its caller: a view reads
`budget_clock()` once per request and passes the reading on, so one request counts in one
window, and tests pass a fixed time instead of waiting for a minute to begin.
"""

import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache

from resilience import conf
from resilience.infra.cache_guard import fail_open_counted
from resilience.ingest.keys import AuthenticatedKey
from resilience.observability.process_metrics import request_limited

log = logging.getLogger("faultline.rate_limits")

WINDOW_SECONDS = 60
# After a cache failure the budgets stay open this long without asking the cache again,
# so an outage costs one failed round trip per process every few seconds, not one per
# request.
OUTAGE_RETRY_SECONDS = 5.0

# What budget_clock() reads. Tests that go through HTTP replace it with a fixed time
# (fixture `budget_clock`), since a request's `now` is read inside the view.
clock: Callable[[], float] = time.time


def budget_clock() -> float:
    """The time the budgets count in: read once per request, passed to every call below."""
    return clock()


@dataclass(frozen=True)
class Scope:
    name: str  # in cache keys and the faultline_requests_rate_limited_total label
    noun: str  # what is counted, for messages: "reports"
    setting: str  # the FAULTLINE setting with the per-minute default


REPORTS = Scope("reports", "reports", "RATE_LIMIT_KEY_REPORTS_PER_MINUTE")
DEAD_LETTERS = Scope("dead_letters", "dead letters", "RATE_LIMIT_KEY_DEAD_LETTERS_PER_MINUTE")
CIRCUIT_CALLS = Scope("circuit_calls", "circuit calls", "RATE_LIMIT_KEY_CIRCUIT_CALLS_PER_MINUTE")
# Sentry envelope items that are not error events (transactions, sessions, client reports…):
# dropped unread, so they have a budget apart and never use up the reports'.
OTHER_ITEMS = Scope("other_items", "non-error envelope items",
                    "RATE_LIMIT_KEY_OTHER_ITEMS_PER_MINUTE")
KEY_SCOPES = {scope.name: scope for scope in (REPORTS, DEAD_LETTERS, CIRCUIT_CALLS, OTHER_ITEMS)}
UNAUTHENTICATED = Scope(
    "unauthenticated", "unauthenticated requests", "RATE_LIMIT_IP_UNAUTHENTICATED_PER_MINUTE"
)


# INCRBY the window's counter, give it its lifetime when this call made it, and give the
# cost back when it does not fit. Returns the count after this call (the cost taken back
# when over, so the caller compares with the limit itself).
_CONSUME_SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if n > tonumber(ARGV[2]) then redis.call('DECRBY', KEYS[1], ARGV[1]) end
return n
"""


class _Outage:
    """Whether the cache failed recently; logged at most once a minute."""

    until = 0.0
    logged = 0.0

    @classmethod
    def active(cls) -> bool:
        return time.monotonic() < cls.until

    @classmethod
    def begin(cls, exc: Exception) -> None:
        now = time.monotonic()
        cls.until = now + OUTAGE_RETRY_SECONDS
        if now - cls.logged >= 60:
            cls.logged = now
            log.warning("rate limits are not enforced: the cache is unreachable (%s)", exc)


# ident -> (window, limit) this process saw used up; bounded by the keys that send to it.
_used_up: dict[str, tuple[int, int]] = {}


def budgets_process_reset() -> None:
    """Forget a cache outage and the used-up windows seen by this process (tests; the next
    call asks the cache)."""
    _Outage.until = 0.0
    _Outage.logged = 0.0
    _used_up.clear()


class _RedisCounter:
    """The consume script on django-redis's own client (its key prefix and version)."""

    script = None  # the registered Script, per process

    @classmethod
    def count(cls, name: str, cost: int, limit: int) -> int:
        client = cache.client.get_client(write=True)
        if cls.script is None:
            cls.script = client.register_script(_CONSUME_SCRIPT)
        return int(cls.script(keys=[cache.make_key(name)],
                              args=[cost, limit, WINDOW_SECONDS + 5], client=client))


def _on_redis() -> bool:
    return hasattr(cache, "client") and hasattr(cache.client, "get_client")


def _count_portable(name: str, cost: int, limit: int) -> int:
    """The per-process cache's way: add, incr, and decr when over."""
    cache.add(name, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(name, cost)
    except ValueError:  # the counter expired between add and incr
        cache.add(name, cost, timeout=WINDOW_SECONDS + 5)
        count = cost
    if count > limit:
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            cache.decr(name, cost)
    return count


def _cache_key(ident: str, window: int) -> str:
    return f"ratelimit:{ident}:{window}"


def _window(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def _retry_after(now: float, window: int) -> int:
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))


def _consume(ident: str, limit: int | None, cost: int, now: float) -> int | None:
    if not limit or cost <= 0:
        return None
    if _Outage.active():
        fail_open_counted("rate_limit")
        return None
    window = _window(now)
    name = _cache_key(ident, window)
    try:
        if _on_redis():
            count = _RedisCounter.count(name, cost, limit)
        else:
            count = _count_portable(name, cost, limit)
    except Exception as exc:  # noqa: BLE001 - any cache failure: fail open
        _Outage.begin(exc)
        fail_open_counted("rate_limit")
        return None
    refused = count > limit
    if (count - cost if refused else count) >= limit:
        _used_up[ident] = (window, limit)  # not one more report fits: refuse them unread
    return _retry_after(now, window) if refused else None


def _exhausted(ident: str, limit: int | None, now: float) -> int | None:
    """From what this process has seen: no round trip. Another process's count is
    learnt at this process's next consume, which refuses the report all the same."""
    if not limit:
        return None
    window = _window(now)
    if _used_up.get(ident) != (window, limit):  # another window, or the limit changed
        return None
    return _retry_after(now, window)


# --- per key ------------------------------------------------------------------------------


def rate_limit_consume(
    *, key_id: int, limit: int | None, now: float, cost: int = 1, scope: str = REPORTS.name
) -> int | None:
    """Count `cost` against the key's current minute in `scope`.

    Returns None when it fits (or the limit is empty or 0: no limit), else the seconds
    until the window ends (at least 1): the caller answers 429 with Retry-After.
    """
    retry_after = _consume(f"key:{key_id}:{scope}", limit, cost, now)
    if retry_after is not None:
        request_limited(scope)
    return retry_after


def rate_limit_exhausted(
    *, key_id: int, limit: int | None, now: float, scope: str = REPORTS.name,
    refusing: bool = True,
) -> int | None:
    """Seconds until the window ends if the key has nothing left in `scope` (counts nothing).

    Lets an endpoint refuse before it reads a body it could not accept anyway; with
    `refusing=False` the caller only asks (the request may still be accepted), and the
    refusal is not counted in faultline_requests_rate_limited_total.
    """
    retry_after = _exhausted(f"key:{key_id}:{scope}", limit, now)
    if retry_after is not None and refusing:
        request_limited(scope)
    return retry_after


def key_budget_limit(*, key: AuthenticatedKey, scope: str) -> int:
    """Per minute: the key's own limit for reports (empty: the default), else the default."""
    if scope == REPORTS.name:
        return key.rate_limit_per_minute or 0
    return conf.get(KEY_SCOPES[scope].setting) or 0


def key_budget_consume(
    *, key: AuthenticatedKey, scope: str, now: float, cost: int = 1
) -> int | None:
    return rate_limit_consume(key_id=key.key_id, limit=key_budget_limit(key=key, scope=scope),
                              now=now, cost=cost, scope=scope)


def key_budget_message(*, key: AuthenticatedKey, scope: str) -> str:
    return (f"rate limit of {key_budget_limit(key=key, scope=scope)} "
            f"{KEY_SCOPES[scope].noun} per minute exceeded for this key")


# --- per address, for requests that fail authentication -----------------------------------


def address_bucket(address: str | None) -> str:
    """IPv4 addresses count one by one; IPv6 by /64, the block one client usually holds."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def unauthenticated_attempt(*, address: str | None, now: float) -> int | None:
    """Count one request from `address` whose credentials were missing or wrong.

    Returns None while the address is within its budget, else the seconds until the window
    ends. Only refused requests count and only refusals change (to 429): a valid key is
    never refused for its address, since a proxy or a NAT may share it with the sender of
    the junk.
    """
    limit = conf.get(UNAUTHENTICATED.setting)
    retry_after = _consume(f"ip:{address_bucket(address)}", limit, 1, now)
    if retry_after is not None:
        request_limited(UNAUTHENTICATED.name)
    return retry_after


def unauthenticated_message(reason: str, retry_after: int) -> str:
    limit = conf.get(UNAUTHENTICATED.setting)
    return (f"{reason} (and this address has sent more than {limit} requests with missing or "
            f"wrong credentials this minute: retry after {retry_after} s)")
