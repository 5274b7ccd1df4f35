"""Request limits of the API, counted in Redis so that every API process shares them.

Two limits, checked together by one Lua script when Redis must be asked at all (``Limiter``
says when: rarely, on the hot route):

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
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from producer.envelope import ApiError
from shared.settings import Settings

log = logging.getLogger("pushflow.ratelimit")

_PREFIX = "pushflow:ratelimit:"

# For each check i (from 1): KEYS[2i-1] the wrong secrets of (application key, address),
# KEYS[2i] its app's bucket; ARGV[4i-3] failures allowed, ARGV[4i-2] microseconds per request
# (0: not counted), ARGV[4i-1] burst, ARGV[4i] requests wanted (a lease; when the bucket cannot
# give them all, one). Returns per check: 0 (go on), 1 (wrong secrets) or 2 (too many
# requests); the milliseconds to wait; the requests granted.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS / 2 do
  local kind, wait, granted = 0, 0, 0
  local failures = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local interval = tonumber(ARGV[4 * i - 2])
  if failures >= tonumber(ARGV[4 * i - 3]) then
    kind, wait = 1, redis.call('PTTL', KEYS[2 * i - 1])
  elseif interval > 0 then
    local tat = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
    if tat < now then tat = now end
    local room = tonumber(ARGV[4 * i - 1]) * interval
    for _, want in ipairs({tonumber(ARGV[4 * i]), 1}) do
      if granted == 0 and tat + want * interval - now <= room then
        granted = want
        redis.call('SET', KEYS[2 * i], string.format('%.0f', tat + want * interval),
                   'PX', math.ceil((tat + want * interval - now) / 1000))
      end
    end
    if granted == 0 then kind, wait = 2, math.ceil((tat + interval - now - room) / 1000) end
  end
  out[3 * i - 2], out[3 * i - 1], out[3 * i] = kind, wait, granted
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


# A process takes up to this much of an app's intake rate from Redis at once (never more than
# the app's burst), and keeps what it took at most ``_LEASE_LIFE`` seconds.
LEASE_SECONDS = 0.1
_LEASE_LIFE = 1.0


def lease_size(rate: IntakeRate) -> int:
    return max(1, min(rate.burst, int(rate.per_second * LEASE_SECONDS)))


class Limiter:
    """One per API process (``AppState.limiter``), so that the hot route rarely waits on Redis:

    - the intake count is taken from the app's bucket in leases (``lease_size``): under load a
      process asks Redis once per lease, not once per request; what a process took and did not
      use within ``_LEASE_LIFE`` is dropped (the app gets slightly less, never more, than its
      rate);
    - a request whose secret this process verified already is refused for wrong secrets when
      this process saw its address throttled (``blocked``); a secret not known good is checked
      against Redis's count first (``admit``), whatever process counted the failures.

    Checks that do go to Redis while another is in flight wait for it and then all go in one
    script call, so a request pays a share of a round trip rather than one of its own."""

    def __init__(self) -> None:
        self._waiting: list[tuple[list[str], list[Any],
                                  asyncio.Future[tuple[int, int, int]]]] = []
        self._drain: asyncio.Task[None] | None = None
        self._leases: dict[int, tuple[int, float]] = {}  # app id -> (requests left, until)
        self._blocked: dict[tuple[str, str], float] = {}  # (app key, address) -> until
        self._taking: dict[int, asyncio.Future[None]] = {}  # app id -> its lease being taken

    def blocked(self, app_key: str, address: str, now: float) -> None:
        """Raise 429 when this process saw ``address`` throttled for ``app_key``."""
        until = self._blocked.get((app_key, address))
        if until is None:
            return
        if until > now:
            raise _refusal(WRONG_SECRETS, int((until - now) * 1000))
        del self._blocked[(app_key, address)]

    def block(self, app_key: str, address: str, retry_ms: int) -> None:
        self._blocked[(app_key, address)] = time.monotonic() + retry_ms / 1000

    def leased(self, app_id: int) -> bool:
        """Count one intake request against what this process leased for the app, if anything
        is left: True when counted (the hot route's common case, no await needed)."""
        left, until = self._leases.get(app_id, (0, 0.0))
        if left > 0 and until > time.monotonic():
            self._leases[app_id] = (left - 1, until)
            return True
        return False

    async def admit(self, redis: Redis[bytes], settings: Settings, app_key: str, address: str,
                    *, app_id: int | None = None, rate: IntakeRate | None = None) -> None:
        """Raise 429 ``RATE_LIMITED`` when the address sent too many wrong secrets for
        ``app_key`` (Redis's count), or (with ``app_id`` and ``rate``) when the app is past its
        intake rate; otherwise count the request against the app's rate."""
        counted = app_id is not None and rate is not None and rate.per_second > 0
        if counted and app_id is not None:
            while True:
                if self.leased(app_id):
                    return
                taking = self._taking.get(app_id)
                if taking is None:
                    break
                # Another request is taking this app's next lease: share it rather than take
                # one each (a burst of requests would otherwise spend the bucket in leases).
                await asyncio.shield(taking)
            self._taking[app_id] = asyncio.get_running_loop().create_future()
        try:
            await self._check(redis, settings, app_key, address, app_id, rate, counted)
        finally:
            if counted and app_id is not None:
                self._taking.pop(app_id).set_result(None)

    async def _check(self, redis: Redis[bytes], settings: Settings, app_key: str, address: str,
                     app_id: int | None, rate: IntakeRate | None, counted: bool) -> None:
        want = lease_size(rate) if counted and rate else 0
        keys = [_failure_key(app_key, address), f"{_PREFIX}intake:{app_id}"]
        args: list[Any] = [settings.auth_failure_limit,
                           1_000_000 / rate.per_second if counted and rate else 0,
                           rate.burst if counted and rate else 0, want]
        future: asyncio.Future[tuple[int, int, int]] = (
            asyncio.get_running_loop().create_future())
        self._waiting.append((keys, args, future))
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._run_groups(redis))
        kind, retry_ms, granted = await future
        if kind == WRONG_SECRETS:
            self.block(app_key, address, retry_ms)
        if kind:
            raise _refusal(kind, retry_ms)
        if granted > 1 and app_id is not None:  # this request uses one of them
            self._leases[app_id] = (granted - 1, time.monotonic() + _LEASE_LIFE)

    async def _run_groups(self, redis: Redis[bytes]) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                answers = [0, 0, 1] * len(group)
                try:
                    answers = await _run(redis, _ADMIT, [k for keys, _, _ in group for k in keys],
                                         [a for _, args, _ in group for a in args])
                except (RedisError, OSError) as exc:
                    log.warning("rate limits not checked (Redis: %s)", exc)
                finally:
                    for i, (_, _, future) in enumerate(group):
                        if not future.done():
                            future.set_result((int(answers[3 * i]), int(answers[3 * i + 1]),
                                               int(answers[3 * i + 2])))
        finally:
            self._drain = None


async def note_wrong_secret(redis: Redis[bytes], settings: Settings, app_key: str,
                            address: str) -> int:
    """Count a failed authentication of ``app_key`` from ``address``; the failures counted in
    the window so far (0 when Redis could not be reached)."""
    try:
        return int(await _run(redis, _FAILED, [_failure_key(app_key, address)],
                              [settings.auth_failure_window_seconds * 1000]))
    except (RedisError, OSError) as exc:
        log.warning("wrong secret not counted (Redis: %s)", exc)
        return 0
