"""APNs provider tokens: ONE ES256 JWT per (team, key), shared by every worker through Redis.

Apple: "Refresh your token no more than once every 20 minutes and no less than once every 60
minutes" (https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-
connection-to-apns); updating more often gets 429 TooManyProviderTokenUpdates, older tokens get
403 ExpiredProviderToken. So the token is never minted per process or per request: the first
worker that finds no token (or one older than ``refresh_seconds``) mints one and stores it with a
compare-and-set in Redis; everyone else uses the stored one. Each process keeps a local copy and
re-reads Redis every few seconds, so a replacement reaches every process quickly.
"""

from __future__ import annotations

import time

import jwt
from prometheus_client import Gauge
from redis.asyncio import Redis

from shared.credentials import ApnsTokenKey
from shared.singleflight import SingleFlight

KEY = "pushflow:apns:jwt:"
LOCAL_RECHECK_SECONDS = 2.0

# KEYS[1] the shared entry. ARGV: candidate token, its iat, refresh age, token the caller saw
# fail ("" if none). Installs the candidate only if there is no entry, the entry is too old, or
# the entry is exactly the token that just failed; returns the entry in force {token, iat}.
_INSTALL = """
local cur = redis.call('HMGET', KEYS[1], 'token', 'iat')
local now = tonumber(redis.call('TIME')[1])
if cur[1] and (now - tonumber(cur[2])) < tonumber(ARGV[3]) and cur[1] ~= ARGV[4] then
  return cur
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'iat', ARGV[2])
redis.call('EXPIRE', KEYS[1], 3600)
return {ARGV[1], ARGV[2]}
"""


def mint(key: ApnsTokenKey, iat: int) -> str:
    return jwt.encode({"iss": key.team_id, "iat": iat}, key.key_pem, algorithm="ES256",
                      headers={"kid": key.key_id})


class SharedJwt:
    """Provider tokens for every (team, key) this process sends with."""

    def __init__(self, redis: Redis[bytes], refresh_seconds: int, age: Gauge) -> None:
        self.redis = redis
        self.refresh_seconds = refresh_seconds
        self.age = age  # pushflow_apns_jwt_age_seconds{team, key}
        self._install = redis.register_script(_INSTALL)
        # (team, key id) -> (token, iat, monotonic time of the last check against Redis)
        self._local: dict[tuple[str, str], tuple[str, int, float]] = {}
        self._checks: SingleFlight[tuple[str, str], str] = SingleFlight()

    async def token(self, key: ApnsTokenKey) -> str:
        ident = (key.team_id, key.key_id)
        local = self._local.get(ident)
        if local is not None and time.monotonic() - local[2] < LOCAL_RECHECK_SECONDS:
            return local[0]
        # One coroutine re-reads Redis; meanwhile the others keep using the local token (still
        # valid: it is replaced long before Apple's 60 minutes) or, with none, wait for it.
        if local is not None and self._checks.in_flight(ident):
            return local[0]
        return await self._checks.run(ident, lambda: self._check(key, ident))

    async def _check(self, key: ApnsTokenKey, ident: tuple[str, str]) -> str:
        stored = await self.redis.hmget(KEY + ":".join(ident), ["token", "iat"])
        token, iat = stored
        if token is not None and iat is not None and time.time() - int(iat) < self.refresh_seconds:
            return self._remember(ident, token.decode(), int(iat))
        return await self._replace(key, failed="")

    async def refresh(self, key: ApnsTokenKey, failed: str) -> str:
        """After 403 ExpiredProviderToken with ``failed``: replace it once, fleet-wide."""
        return await self._replace(key, failed=failed)

    async def _replace(self, key: ApnsTokenKey, failed: str) -> str:
        ident = (key.team_id, key.key_id)
        iat = int(time.time())
        token, stored_iat = await self._install(
            keys=[KEY + ":".join(ident)],
            args=[mint(key, iat), iat, self.refresh_seconds, failed])
        return self._remember(ident, token.decode(), int(stored_iat))

    def _remember(self, ident: tuple[str, str], token: str, iat: int) -> str:
        self._local[ident] = (token, iat, time.monotonic())
        self.age.labels(*ident).set(time.time() - iat)
        return token
