"""Request limits of the API, counted in Redis so that every API process shares them.

Two limits, checked together by one Lua script, so an authenticated request costs (a share of)
one Redis round trip for both (``Limiter``):

- **Wrong secrets**, per application key and client address: after ``auth_failure_limit``
  failures within ``auth_failure_window_seconds`` (a window that starts at the first failure),
  every request from that address for that application key is answered ``429 RATE_LIMITED``
  before its secret is checked, until the window ends.
- **Intake requests** (``POST /v2.1/push``), per app: a token bucket of
  ``intake_requests_per_second`` with bursts of ``intake_request_burst`` requests, kept as
  GCRA (one Redis key per app holding the bucket's "theoretical arrival time"). An app may
  override both in ``apps.limits`` (same names; 0 requests per second means unlimited).

Both answers carry ``Retry-After`` (whole seconds, at least 1). When Redis cannot be reached the
limits are not enforced (the request goes on and the failure is logged): a limit exists to
protect the service, not to add an outage to Redis's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from producer.envelope import ApiError
from shared.settings import Settings

log = logging.getLogger("pushflow.ratelimit")

_PREFIX = "pushflow:ratelimit:"

# For each request i (from 1): KEYS[2i-1] its wrong secrets of (application key, address),
# KEYS[2i] its app's bucket; ARGV[3i-2] failures allowed, ARGV[3i-1] microseconds per request
# (0: not counted), ARGV[3i] burst. Returns per request: 0 (go on) or 1 (wrong secrets) or
# 2 (too many requests), then the milliseconds to wait.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS / 2 do
  local kind, wait = 0, 0
  local failures = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local interval = tonumber(ARGV[3 * i - 1])
  if failures >= tonumber(ARGV[3 * i - 2]) then
    kind, wait = 1, redis.call('PTTL', KEYS[2 * i - 1])
  elseif interval > 0 then
    local tat = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
    if tat < now then tat = now end
    tat = tat + interval
    local early = tat - now - tonumber(ARGV[3 * i]) * interval
    if early > 0 then
      kind, wait = 2, math.ceil(early / 1000)
    else
      redis.call('SET', KEYS[2 * i], string.format('%.0f', tat),
                 'PX', math.ceil((tat - now) / 1000))
    end
  end
  out[2 * i - 1], out[2 * i] = kind, wait
end
return out
"""
# KEYS[1]: wrong secrets of (application key, address); ARGV[1]: window in milliseconds.
_FAILED = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_SHA = {script: hashlib.sha1(script.encode()).hexdigest() for script in (_ADMIT, _FAILED)}

WRONG_SECRETS, TOO_MANY_REQUESTS = 1, 2


@dataclass(frozen=True)
class IntakeRate:
    """An app's intake limit: ``per_second`` requests sustained (0: unlimited), ``burst`` at
    once."""

    per_second: float
    burst: int

    @classmethod
    def from_settings(cls, settings: Settings, overrides: Mapping[str, Any] | None = None
                      ) -> IntakeRate:
        def pick(name: str, default: float, least: float) -> float:
            value = (overrides or {}).get(name, default)
            # A malformed override never breaks the API: it falls back to the default.
            ok = isinstance(value, int | float) and not isinstance(value, bool) \
                and value >= least
            return float(value) if ok else default

        return cls(pick("intake_requests_per_second", settings.intake_requests_per_second, 0),
                   int(pick("intake_request_burst", settings.intake_request_burst, 1)))


def _failure_key(app_key: str, address: str) -> str:
    return f"{_PREFIX}auth:{address}:{app_key}"


async def _run(redis: Redis[bytes], script: str, keys: list[str], args: list[Any]) -> Any:
    try:
        return await redis.evalsha(_SHA[script], len(keys), *keys, *args)  # type: ignore[no-untyped-call]
    except NoScriptError:  # first use since Redis started: load it
        return await redis.eval(script, len(keys), *keys, *args)  # type: ignore[no-untyped-call]


def _refusal(kind: int, retry_ms: int) -> ApiError:
    seconds = str(max(1, math.ceil(retry_ms / 1000)))
    if kind == WRONG_SECRETS:
        return ApiError(429, "RATE_LIMITED",
                        f"Too many wrong secrets for this application key from this address; "
                        f"retry after {seconds} s", parameter="Authorization", source="header",
                        headers={"Retry-After": seconds})
    return ApiError(429, "RATE_LIMITED",
                    f"Too many requests for this app; retry after {seconds} s",
                    source="server", headers={"Retry-After": seconds})


class Limiter:
    """One per API process (``AppState.limiter``). The checks of concurrent requests share one
    script call: while one is in flight the newcomers wait, then all go in the next, so under
    load a request pays a share of a Redis round trip rather than one of its own."""

    def __init__(self) -> None:
        self._waiting: list[tuple[list[str], list[Any], asyncio.Future[tuple[int, int]]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def admit(self, redis: Redis[bytes], settings: Settings, app_key: str, address: str,
                    *, app_id: int | None = None, rate: IntakeRate | None = None) -> None:
        """Raise 429 ``RATE_LIMITED`` when the address sent too many wrong secrets for
        ``app_key``, or (with ``app_id`` and ``rate``) when the app is past its intake rate;
        otherwise count the request against the app's rate."""
        counted = app_id is not None and rate is not None and rate.per_second > 0
        keys = [_failure_key(app_key, address), f"{_PREFIX}intake:{app_id}"]
        args: list[Any] = [settings.auth_failure_limit,
                           1_000_000 / rate.per_second if counted and rate else 0,
                           rate.burst if counted and rate else 0]
        future: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._run_groups(redis))
        kind, retry_ms = await future
        if kind:
            raise _refusal(kind, retry_ms)

    async def _run_groups(self, redis: Redis[bytes]) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                answers = [0, 0] * len(group)
                try:
                    answers = await _run(redis, _ADMIT, [k for keys, _, _ in group for k in keys],
                                         [a for _, args, _ in group for a in args])
                except (RedisError, OSError) as exc:
                    log.warning("rate limits not checked (Redis: %s)", exc)
                finally:
                    for i, (_, _, future) in enumerate(group):
                        if not future.done():
                            future.set_result((int(answers[2 * i]), int(answers[2 * i + 1])))
        finally:
            self._drain = None


async def note_wrong_secret(redis: Redis[bytes], settings: Settings, app_key: str,
                            address: str) -> None:
    """Count a failed authentication of ``app_key`` from ``address``."""
    try:
        await _run(redis, _FAILED, [_failure_key(app_key, address)],
                   [settings.auth_failure_window_seconds * 1000])
    except (RedisError, OSError) as exc:
        log.warning("wrong secret not counted (Redis: %s)", exc)
