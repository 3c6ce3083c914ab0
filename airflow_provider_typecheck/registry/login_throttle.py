"""Login throttling in Redis: per (username, address), per username, per address.

Every login attempt (and every ``current_password`` check) first asks :meth:`LoginThrottle.begin`,
before any password is hashed: a throttled attempt costs one Redis round trip, never
Argon2's ~200 ms. Attempts are counted when they begin, atomically, so a burst of
parallel guesses is counted as it arrives rather than after the hashes finish; a
success takes its own attempt back (:meth:`LoginThrottle.succeeded`).

Three scopes, each a counter that lives :attr:`ThrottlePolicy.window_seconds` after the
scope's last attempt (15 minutes) and a block key:

``pair`` (username, address)
    10 attempts free; the 11th within the window is refused with 429 and a
    ``Retry-After`` of 15 s, doubling with each refused burst up to 15 minutes. This
    is what stops one attacker guessing one account. It never slows anyone else: the
    real user's own address has a pair of its own.
``username`` (every address)
    100 attempts free, delays from 5 s doubling to at most 60 s: a botnet spreading
    guesses over many addresses is slowed to about one guess a minute per account,
    while the real user is at worst asked to wait a minute.
``address`` (every username)
    50 attempts free, 15 s doubling to 15 minutes: password spraying from one address.

An attacker cannot lock the real user out indefinitely: the two wide scopes are
skipped for an address the user logged in from successfully in the last 30 days
(a *known* address), so only the user's own mistakes from there slow them; from a
new address the username scope's delay is bounded (60 s). Blocks never outlast
their delay, and refused attempts do not extend them (only the first refusal after
a block ends starts a longer one).

Usernames are keyed lower-case and hashed (a key never holds a raw name, and a name
of any length makes a key of fixed size); unknown usernames count like real ones,
so throttling says nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class ScopeLimit:
    free: int  # attempts within the window before the first refusal
    first_delay_seconds: int
    max_delay_seconds: int


@dataclass(frozen=True)
class ThrottlePolicy:
    window_seconds: int = 15 * 60
    pair: ScopeLimit = ScopeLimit(free=10, first_delay_seconds=15, max_delay_seconds=15 * 60)
    username: ScopeLimit = ScopeLimit(free=100, first_delay_seconds=5, max_delay_seconds=60)
    address: ScopeLimit = ScopeLimit(free=50, first_delay_seconds=15, max_delay_seconds=15 * 60)


# KEYS: for each scope, its counter then its block key. ARGV: window, then per scope
# free, first delay, max delay (in the order of KEYS).
# Returns 0 when the attempt may go on (it is counted), else the seconds to wait.
_BEGIN = """
local scopes = #KEYS / 2
local wait = 0
for i = 1, scopes do
  local ttl = redis.call('PTTL', KEYS[2 * i])
  if ttl > wait then wait = ttl end
end
if wait > 0 then
  return wait
end
local window = tonumber(ARGV[1])
for i = 1, scopes do
  local count = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], window)
  local free = tonumber(ARGV[3 * i - 1])
  if count > free then
    local delay = math.min(tonumber(ARGV[3 * i]) * 2 ^ (count - free - 1), tonumber(ARGV[3 * i + 1]))
    redis.call('SET', KEYS[2 * i], '1', 'PX', math.floor(delay * 1000))
    if delay * 1000 > wait then wait = delay * 1000 end
  end
end
return wait
"""


class LoginThrottle:
    """
    Counts login attempts in Redis and says when one must wait.

    :param redis: the process's Redis client (``Services.redis``).
    :param prefix: the package's Redis key prefix (``TYPECHECK_REDIS_PREFIX``).
    """

    def __init__(self, redis: Redis, *, prefix: str, policy: ThrottlePolicy | None = None) -> None:
        self._redis = redis
        self.prefix = prefix
        self.policy = policy or ThrottlePolicy()
        # Registering sends nothing: the script is loaded on its first call.
        self._begin = redis.register_script(_BEGIN)

    def _keys(self, username: str, address: str) -> dict[str, str]:
        user = hashlib.sha256(username.lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]
        base = f"{self.prefix}login:"
        return {
            "pair": f"{base}pair:{user}:{address}",
            "username": f"{base}user:{user}",
            "address": f"{base}addr:{address}",
            "known": f"{base}known:{user}:{address}",
        }

    def begin(self, username: str, address: str) -> Attempt:
        """Count an attempt, unless the username or address must wait (then nothing is counted)."""
        keys = self._keys(username, address)
        scopes = [("pair", self.policy.pair)]
        if not self._redis.exists(keys["known"]):
            scopes += [("username", self.policy.username), ("address", self.policy.address)]
        script_keys: list[str] = []
        args: list[int] = [self.policy.window_seconds]
        for name, limit in scopes:
            script_keys += [keys[name], f"{keys[name]}:block"]
            args += [limit.free, limit.first_delay_seconds, limit.max_delay_seconds]
        wait_ms = int(self._begin(keys=script_keys, args=args))
        wait = None if wait_ms <= 0 else max(1, math.ceil(wait_ms / 1000))
        return Attempt(wait, tuple(keys[name] for name, _ in scopes), keys["pair"], keys["known"])

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: clear the pair, remember the address, take the attempt back."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(attempt.pair_key, f"{attempt.pair_key}:block")
        pipe.set(attempt.known_key, "1", ex=KNOWN_ADDRESS_SECONDS)
        for key in attempt.counted:
            if key != attempt.pair_key:
                pipe.eval(_TAKE_BACK, 1, key)
        pipe.execute()

    def abandoned(self, attempt: Attempt) -> None:
        """The attempt could not be judged (a store was down): it counts against no one."""
        pipe = self._redis.pipeline(transaction=False)
        for key in attempt.counted:
            pipe.eval(_TAKE_BACK, 1, key)
        pipe.execute()


@dataclass(frozen=True)
class Attempt:
    """One login attempt as :meth:`LoginThrottle.begin` counted it."""

    wait_seconds: int | None  # set: refused, retry after this many seconds
    counted: tuple[str, ...]  # the counters it was counted in
    pair_key: str
    known_key: str


# Decrement a counter that exists and is positive; never create one.
_TAKE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]))
if count and count > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
"""
