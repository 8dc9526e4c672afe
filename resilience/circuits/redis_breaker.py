"""The live breaker in Redis: one Lua script per call, so every process shares one breaker.

No Django import: benchmarks and multi-process tests use `RedisCircuitStore` directly.
The script implements `circuit_machine` (the specification) step for step:

- it reads the time with `redis.call('TIME')`, never the caller's clock (allowed since
  Redis 5 replicates scripts by effects), so a host with a skewed clock cannot let a
  probe in early or keep a circuit open;
- per circuit there are three keys sharing a hash tag, `<prefix>:circuit:{<name>}:s`
  (hash: state, opened_at ms, version, a sequence), `…:f` (sorted set of failure times
  within the window) and `…:p` (sorted set of probe tokens scored by their expiry); the
  name is `<service id>/<operation>` (`circuit_name`), so services never share keys;
- every call renews the state key's TTL (the idle expiry, when set), so a circuit nobody
  calls leaves Redis on its own; `expire_if_idle` is the expiry task's atomic check;
- when the state key is missing (first use, or Redis restarted empty) the script answers
  `SEED` and the caller repeats the call with the durable mirror's state as arguments;
- every transition bumps the version and is returned, so exactly the process whose call
  made it writes the mirror row and the CircuitTransition.

See https://redis.io/docs/latest/develop/interact/programmability/eval-intro/ on scripts
and effects replication, and Faulty's `reserve` for probe reservations with expiry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import redis

from resilience.core.circuit_machine import LEGAL, Cause, Config, Outcome, State, Transition

SOCKET_TIMEOUT_SECONDS = 0.5
# A dead Redis refuses at once; a silent one (host gone) costs this much to find out.
CONNECT_TIMEOUT_SECONDS = 0.25

# The whitelist, generated from the pure machine so the two cannot drift apart.
_LEGAL_LUA = ",".join(f'["{f}>{t}:{c}"]=true' for f, t, c in sorted(LEGAL))

LUA = (
    """
local K_S, K_F, K_P = KEYS[1], KEYS[2], KEYS[3]
local cmd = ARGV[1]
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local recovery = tonumber(ARGV[4])
local max_probes = tonumber(ARGV[5])
local probe_timeout = tonumber(ARGV[6])
local n = tonumber(ARGV[7])
local token = ARGV[8]
local counts = ARGV[9] == '1'
local new_token = ARGV[10]
local success_resets = ARGV[11] == '1'
local idle = tonumber(ARGV[12])
local has_seed = ARGV[13] == '1'
local LEGAL = {"""
    + _LEGAL_LUA
    + """}

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local cur = redis.call('HMGET', K_S, 's', 'o', 'v')
-- Probes the mirror granted or knows of ("token=expiry,..."), so a probe granted by the
-- database fallback during an outage is still a probe here and its slot stays taken.
local function add_probes()
  if ARGV[14] ~= 'HALF_OPEN' then return end
  local p = 0
  for tok, exp in string.gmatch(ARGV[18] or '', '([^,=]+)=([^,]+)') do
    redis.call('ZADD', K_P, 'NX', tonumber(exp), tok)
    p = p + 1
  end
  if p > 0 then redis.call('PEXPIRE', K_P, probe_timeout) end
end
local function seed()
  redis.call('DEL', K_F, K_P)
  redis.call('HSET', K_S, 's', ARGV[14], 'o', ARGV[15], 'v', ARGV[16])
  local i = 0
  for ts in string.gmatch(ARGV[17], '[^,]+') do
    i = i + 1
    redis.call('ZADD', K_F, tonumber(ts), 'seed:' .. i)
  end
  if i > 0 then redis.call('PEXPIRE', K_F, window) end
  add_probes()
  cur = {ARGV[14], ARGV[15], ARGV[16]}
end
-- Each call is a use: the state key lives `idle` ms past the last one (0: a read that is
-- not a use, such as an operator's list, leaves the TTL alone).
local function touch()
  if idle > 0 then redis.call('PEXPIRE', K_S, idle) end
end
if cmd == 'reseed' then
  if (not cur[1]) or tonumber(cur[3]) < tonumber(ARGV[16]) then
    seed()
    touch()
    return {'SEEDED'}
  end
  if cur[1] == 'HALF_OPEN' and tonumber(cur[3]) == tonumber(ARGV[16]) then
    add_probes()  -- the same half-open period: its probes, wherever they were granted
  end
  return {'KEPT'}
end
if not cur[1] then
  if not has_seed then return {'SEED'} end
  seed()
end

local state = cur[1]
local opened = tonumber(cur[2])
local version = tonumber(cur[3])
local start_version = version
local trans = {}

redis.call('ZREMRANGEBYSCORE', K_P, '-inf', now)
redis.call('ZREMRANGEBYSCORE', K_F, '-inf', now - window)

local function go(to, cause)
  if not LEGAL[state .. '>' .. to .. ':' .. cause] then
    error('illegal circuit transition ' .. state .. ' > ' .. to .. ' (' .. cause .. ')')
  end
  version = version + 1
  trans[#trans + 1] = state
  trans[#trans + 1] = to
  trans[#trans + 1] = cause
  trans[#trans + 1] = version
  state = to
  if to == 'OPEN' or to == 'FORCED_OPEN' then
    opened = now
  elseif to ~= 'HALF_OPEN' then
    opened = nil
  end
  if to ~= 'HALF_OPEN' then redis.call('DEL', K_P) end
  redis.call('DEL', K_F)
end

local function is_probe(tok)
  return state == 'HALF_OPEN' and tok ~= '' and redis.call('ZSCORE', K_P, tok)
end

local allowed, out_token, count_override = 0, '', nil
if cmd == 'permit' then
  if state == 'CLOSED' or state == 'FORCED_CLOSED' then
    allowed = 1
  else
    if state == 'OPEN' and now >= (opened or 0) + recovery then
      go('HALF_OPEN', 'recovery_timeout')
    end
    if state == 'HALF_OPEN' and redis.call('ZCARD', K_P) < max_probes then
      redis.call('ZADD', K_P, now + probe_timeout, new_token)
      redis.call('PEXPIRE', K_P, probe_timeout)
      allowed = 1
      out_token = new_token
    end
  end
elseif cmd == 'success' then
  if is_probe(token) then
    go('CLOSED', 'probe_success')
  elseif state == 'CLOSED' and success_resets then
    redis.call('DEL', K_F)
  end
elseif cmd == 'failure' then
  if is_probe(token) then
    if counts then go('OPEN', 'probe_failure') else redis.call('ZREM', K_P, token) end
  elseif counts and n > 0 then
    if state == 'CLOSED' then
      -- Only the threshold matters once reached: never add more members than that.
      local before = redis.call('ZCARD', K_F)
      local k = math.min(n, threshold)
      local q = redis.call('HINCRBY', K_S, 'q', k)
      for i = q - k + 1, q do redis.call('ZADD', K_F, now, i) end
      if before + n >= threshold then
        count_override = before + n
        go('OPEN', 'threshold')
      else
        redis.call('PEXPIRE', K_F, window)
      end
    elseif state == 'OPEN' and now >= (opened or 0) + recovery then
      go('HALF_OPEN', 'recovery_timeout')
      go('OPEN', 'probe_failure')
    end
  end
elseif cmd == 'force_open' then
  if state ~= 'FORCED_OPEN' then go('FORCED_OPEN', 'force') end
elseif cmd == 'force_closed' then
  if state ~= 'FORCED_CLOSED' then go('FORCED_CLOSED', 'force') end
elseif cmd == 'reset' then
  go('CLOSED', 'reset')
elseif cmd ~= 'view' then
  error('unknown circuit command ' .. cmd)
end

if version ~= start_version then
  redis.call('HSET', K_S, 's', state, 'o', opened or '', 'v', version)
end
touch()

local is_open, retry = 0, -1
if state == 'OPEN' then
  is_open = 1
  retry = math.max(0, (opened or now) + recovery - now)
elseif state == 'FORCED_OPEN' then
  is_open = 1
elseif state == 'HALF_OPEN' then
  if redis.call('ZCARD', K_P) >= max_probes then
    is_open = 1
    local first = redis.call('ZRANGE', K_P, 0, 0, 'WITHSCORES')
    retry = math.max(0, tonumber(first[2] or now) - now)
  else
    retry = 0
  end
end
if allowed == 1 then retry = -1 end
local fc = count_override or redis.call('ZCARD', K_F)
local out = {'OK', state, version, allowed, retry, out_token, is_open, fc, opened or -1, now}
for i = 1, #trans do out[#out + 1] = trans[i] end
return out
"""
)

# The expiry task's check, atomic with the delete: a state key that still has its TTL was
# used within the idle period (every call renews it); one without a TTL (written before
# expiry was configured) is idle once CLOSED with no failures and no probes.
EXPIRE_LUA = """
local K_S, K_F, K_P = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', K_S) == 1 then
  if redis.call('PTTL', K_S) >= 0 then return 0 end
  if redis.call('HGET', K_S, 's') ~= 'CLOSED' or redis.call('ZCARD', K_F) > 0
     or redis.call('ZCARD', K_P) > 0 then
    return 0
  end
end
redis.call('DEL', K_S, K_F, K_P)
return 1
"""


@dataclass(frozen=True)
class Seed:
    """The durable mirror's view of a circuit, used when Redis has no key for it."""

    state: str = State.CLOSED
    opened_at_ms: int | None = None
    version: int = 0
    failures: tuple[int, ...] = ()
    # Probe reservations (token → expiry ms) in HALF_OPEN: honoured by Redis once seeded.
    probes: tuple[tuple[str, int], ...] = ()

    def argv(self) -> list:
        return [
            "1",
            self.state,
            "" if self.opened_at_ms is None else self.opened_at_ms,
            self.version,
            ",".join(str(t) for t in self.failures),
            ",".join(f"{token}={expiry}" for token, expiry in self.probes),
        ]


class NeedsSeed(Exception):
    """Redis holds no state for the circuit: call again with a Seed."""


def circuit_name(service_id: int, operation: str) -> str:
    """A circuit's name in Redis keys: its service and operation ("/" is never in an
    operation name the API accepts, and the id comes first, so names cannot collide)."""
    return f"{service_id}/{operation}"


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def client_for(url: str) -> redis.Redis:
    """One client (and connection pool) per URL per process, with short timeouts so an
    unreachable Redis costs half a second at most before the caller falls back."""
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=SOCKET_TIMEOUT_SECONDS,
                    socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
                _clients[url] = client
    return client


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCircuitStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.client = client_for(url)
        self.prefix = prefix
        # register_script: EVALSHA, falling back to EVAL when the script cache is empty
        # (a restarted Redis), so the script text crosses the wire only then.
        self.script = self.client.register_script(LUA)
        self.expire_script = self.client.register_script(EXPIRE_LUA)

    def keys(self, name: str) -> list[str]:
        base = f"{self.prefix}:circuit:{{{name}}}"
        return [f"{base}:s", f"{base}:f", f"{base}:p"]

    def call(
        self,
        command: str,
        name: str,
        cfg: Config,
        *,
        n: int = 1,
        token: str | None = None,
        counts: bool = True,
        new_token: str = "",
        seed: Seed | None = None,
        idle_ms: int = 0,
    ) -> Outcome:
        """Run one command on the circuit `name` (`circuit_name`); raises NeedsSeed when
        Redis has nothing for it. `idle_ms` > 0 renews the state key's TTL to that."""
        args = [
            command,
            cfg.failure_threshold,
            cfg.window_ms,
            cfg.recovery_timeout_ms,
            cfg.half_open_probes,
            cfg.probe_timeout_ms,
            n,
            token or "",
            "1" if counts else "0",
            new_token,
            "1" if cfg.success_resets_failures else "0",
            max(0, int(idle_ms)),
        ]
        args += seed.argv() if seed is not None else ["0"]
        reply = self.script(keys=self.keys(name), args=args)
        if _text(reply[0]) == "SEED":
            raise NeedsSeed(name)
        return _outcome(reply)

    def reseed(self, name: str, cfg: Config, seed: Seed, *, idle_ms: int = 0) -> bool:
        """Overwrite Redis with the mirror if Redis's copy is older (after an outage)."""
        args = ["reseed", cfg.failure_threshold, cfg.window_ms, cfg.recovery_timeout_ms,
                cfg.half_open_probes, cfg.probe_timeout_ms, 0, "", "0", "", "0",
                max(0, int(idle_ms)), *seed.argv()]
        return _text(self.script(keys=self.keys(name), args=args)[0]) == "SEEDED"

    def expire_if_idle(self, name: str) -> bool:
        """Delete the circuit's keys if it is idle (see EXPIRE_LUA); True when it was."""
        return int(self.expire_script(keys=self.keys(name))) == 1

    def delete(self, name: str) -> None:
        self.client.delete(*self.keys(name))

    def delete_all(self) -> int:
        """Remove every circuit key under this prefix (tests, benchmarks)."""
        keys = list(self.client.scan_iter(match=f"{self.prefix}:circuit:*", count=500))
        if keys:
            self.client.delete(*keys)
        return len(keys)


def _outcome(reply: list) -> Outcome:
    (_, state, version, allowed, retry, token, is_open, count, opened, now) = reply[:10]
    rest = reply[10:]
    transitions = tuple(
        Transition(
            from_state=State(_text(rest[i])),
            to_state=State(_text(rest[i + 1])),
            cause=Cause(_text(rest[i + 2])),
            version=int(rest[i + 3]),
            at_ms=int(now),
        )
        for i in range(0, len(rest), 4)
    )
    return Outcome(
        state=State(_text(state)),
        version=int(version),
        allowed=bool(allowed),
        retry_after_ms=None if int(retry) < 0 else int(retry),
        probe_token=_text(token) or None,
        is_open=bool(is_open),
        failure_count=int(count),
        opened_at_ms=None if int(opened) < 0 else int(opened),
        now_ms=int(now),
        transitions=transitions,
    )
