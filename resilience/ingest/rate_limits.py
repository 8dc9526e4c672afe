"""Budgets: fixed one-minute windows counted in the shared cache.

On Redis one script grants from the window's counter in a single round trip, atomically,
so every web process on every machine counts against one number. A process takes a lease
ahead (a hundredth of the limit, `LEASE_SHARE`) and spends it locally, so a busy key costs
one round trip per hundred reports, not one per report; the price is that a key may be
refused up to (processes - 1) leases before its limit, and keys under 200 a minute take
nothing ahead. Without Redis `cache.add` and `cache.incr` count in the per-process cache,
and so is the limit. A refused request takes nothing, so a batch too big for what is left
does not use the window up for others.

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
import threading
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


# Grant up to ARGV[2] of the window's counter, at least ARGV[1] (what the call costs), within
# the limit ARGV[3]; the counter gets its lifetime when this call made it. Returns
# {count after the call, granted}: granted 0 is a refusal, and nothing was taken.
_GRANT_SCRIPT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local need, want, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local grant = math.min(want, limit - count)
if grant < need then return {count, 0} end
local n = redis.call('INCRBY', KEYS[1], grant)
if n == grant then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return {n, grant}
"""
# A web process takes a budget ahead in leases of this share of the limit (a 10,000-a-minute
# key: 100 at a time), so most reports cost no round trip. A key is refused at most
# (processes - 1) leases before its limit; under 200 a minute, nothing is taken ahead.
LEASE_SHARE = 100


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
    with _leases_lock:
        _leases.clear()


class _RedisCounter:
    """The grant script on django-redis's own client (its key prefix and version)."""

    script = None  # the registered Script, per process

    @classmethod
    def grant(cls, name: str, need: int, want: int, limit: int) -> tuple[int, int]:
        client = cache.client.get_client(write=True)
        if cls.script is None:
            cls.script = client.register_script(_GRANT_SCRIPT)
        count, granted = cls.script(keys=[cache.make_key(name)],
                                    args=[need, want, limit, WINDOW_SECONDS + 5], client=client)
        return int(count), int(granted)


@dataclass
class _Lease:
    """What this process took ahead of a window's budget and has not spent yet."""

    window: int
    limit: int
    left: int = 0


_leases: dict[str, _Lease] = {}
_leases_lock = threading.Lock()


def _take_held(ident: str, window: int, limit: int, cost: int) -> int | None:
    """None when the lease covers `cost` (spent from it), else what it held (now taken)."""
    with _leases_lock:
        lease = _leases.get(ident)
        if lease is None or (lease.window, lease.limit) != (window, limit):
            _leases[ident] = _Lease(window, limit)
            return 0
        if lease.left >= cost:
            lease.left -= cost
            return None
        held, lease.left = lease.left, 0
        return held


def _put_back(ident: str, window: int, limit: int, amount: int) -> None:
    with _leases_lock:
        lease = _leases.get(ident)
        if lease is not None and (lease.window, lease.limit) == (window, limit):
            lease.left += amount


def _consume_leased(ident: str, name: str, limit: int, cost: int, window: int) -> bool:
    """Spend `cost` from this process's lease, asking Redis for more (one round trip)
    when it is short. True when it fits."""
    held = _take_held(ident, window, limit, cost)
    if held is None:
        return True
    need = cost - held
    count, granted = _RedisCounter.grant(name, need, need + limit // LEASE_SHARE, limit)
    if granted == 0:
        _put_back(ident, window, limit, held)
        if count >= limit and held == 0:
            _used_up[ident] = (window, limit)  # not one more report fits: refuse them unread
        return False
    _put_back(ident, window, limit, granted - need)
    if count >= limit and granted == need:
        _used_up[ident] = (window, limit)  # the last of it was this call's
    return True


def _on_redis() -> bool:
    return hasattr(cache, "client") and hasattr(cache.client, "get_client")


def _count_portable(ident: str, name: str, limit: int, cost: int, window: int) -> bool:
    """The per-process cache's way (nothing to take ahead): add, incr, and decr when over."""
    cache.add(name, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(name, cost)
    except ValueError:  # the counter expired between add and incr
        cache.add(name, cost, timeout=WINDOW_SECONDS + 5)
        count = cost
    refused = count > limit
    if refused:
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            cache.decr(name, cost)
    if (count - cost if refused else count) >= limit:
        _used_up[ident] = (window, limit)  # not one more report fits: refuse them unread
    return not refused


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
            fits = _consume_leased(ident, name, limit, cost, window)
        else:
            fits = _count_portable(ident, name, limit, cost, window)
    except Exception as exc:  # noqa: BLE001 - any cache failure: fail open
        _Outage.begin(exc)
        fail_open_counted("rate_limit")
        return None
    return None if fits else _retry_after(now, window)


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
