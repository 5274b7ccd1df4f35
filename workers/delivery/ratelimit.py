"""A token bucket per (app, gateway, lane) in Redis, shared by every worker process on every
machine. Each lane has its own rate (``domain.keys.send_rates``: per app, gateway and lane): a
campaign on the bulk lane never spends the budget of that app's transactional pushes (2FA codes).

Celery's ``rate_limit`` is per worker instance, so it cannot cap an app across a fleet. One
Lua call takes up to ``n`` tokens at once (a worker asks for a whole batch of one app's jobs)
with time from Redis ``TIME`` (no clock skew between machines), and says how long until the next
token: the worker parks the rest of that app's jobs for that long on its event loop while other
apps' jobs keep flowing.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared.queues import Lane

BUCKET = "pushflow:bucket:"

# KEYS[1] bucket. ARGV: rate (tokens/s), burst (max tokens), requested.
# Returns {granted, seconds until one more token (string)}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted = math.min(math.floor(tokens), want)
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if granted < want then wait = (1 - tokens) / rate end
return {granted, tostring(wait)}
"""


@dataclass(frozen=True)
class Grant:
    granted: int
    wait_seconds: float  # until at least one more token is available (0 when all granted)


class RateLimiter:
    def __init__(self, redis: Redis[bytes], burst_seconds: float = 0.1) -> None:
        # Burst: 100 ms worth of tokens, so a limit is visible within a fraction of a second
        # while a worker can still take a useful batch at once.
        self.burst_seconds = burst_seconds
        self._take = redis.register_script(_TAKE)

    async def take(self, app_id: int, gateway: str, lane: Lane, rate: float, want: int) -> Grant:
        if rate <= 0:  # 0 means unlimited
            return Grant(want, 0.0)
        burst = max(1.0, rate * self.burst_seconds)
        granted, wait = await self._take(
            keys=[f"{BUCKET}{gateway}:{lane}:{app_id}"], args=[rate, burst, want])
        return Grant(int(granted), float(wait))
