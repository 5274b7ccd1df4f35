"""Authentication by the contract's two raw headers, ``Authorization: <secret>`` and
``Application-Key: <app key>``, and scope checks. Each header must come once (a second copy is
refused, not silently preferred) and the secret raw (``Bearer <secret>`` is refused with a word
on what to send).

Use from a route module::

    from producer.auth import authenticate

    async def handler(request: Request) -> Response:
        caller = await authenticate(request, "push:read")   # 401 / 403 / 429 as ApiError
        caller.app_id, caller.app_key, caller.scopes, caller.limits

Always filter data by ``caller.app_id``; another app's object must answer 404, never 403.

Key lookups are cached in-process for a few seconds (``KEY_CACHE_SECONDS``), so a request does
not pay a PostgreSQL round trip for authentication. Concurrent misses for the same key share one
query (``shared.singleflight``). An address that sent too many wrong secrets for an application
key is answered 429 before its secret is checked, and ``authenticate(..., intake=True)`` counts
the request against the app's intake rate, from a lease this process took from Redis
(``producer.ratelimit``: the hot route rarely waits on Redis for either).

A revoked key stops working at once: the revocation is announced on Redis
(``domain.keys.announce``) and ``watch_key_changes``, a background task of every API process,
drops the app's cached entries; the expiry is the backstop when Redis cannot tell.

Each key's use is recorded (``last_used_at``) off the request path, at most once a minute per key
and process (``domain.keys.store.record_use``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request

from domain.keys import announce
from domain.keys import store as keys
from producer import ratelimit
from producer.envelope import ApiError
from producer.ratelimit import IntakeRate
from producer.state import AppState, get_state
from shared.payload import Limits
from shared.singleflight import SingleFlight

KEY_CACHE_SECONDS = 5.0
# Unknown keys are remembered too (a client retrying a bad key costs no query), but briefly,
# so a key created a moment ago works almost at once.
MISS_CACHE_SECONDS = 1.0
MAX_CACHED_KEYS = 10_000
_MAX_HEADER_CHARS = 512
ADMIN_SCOPE = "admin"  # implies every other scope

log = logging.getLogger("pushflow.auth")

@dataclass(frozen=True)
class Caller:
    key_id: int
    app_id: int
    app_key: str
    scopes: frozenset[str]
    limits: Limits
    rate: IntakeRate

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN_SCOPE in self.scopes


class KeyCache:
    """(app key, secret) -> Caller or None, each entry valid for a few seconds."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, Caller | None]] = {}
        self.loads: SingleFlight[tuple[str, str], Caller | None] = SingleFlight()
        # Bumped by every drop: a look-up that began before a drop must not cache what it read
        # (it may predate the revocation).
        self.generation = 0
        # Key id -> when its use was last handed to record_use (monotonic), and those writes.
        self.use_noted: dict[int, float] = {}
        self.use_writes: set[asyncio.Task[None]] = set()

    def get(self, key: tuple[str, str], now: float) -> tuple[bool, Caller | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < now:
            return False, None
        return True, entry[1]

    def expire_all(self) -> None:
        self._entries.clear()
        self.generation += 1

    def expire_app(self, app_key: str) -> None:
        for key in [k for k in self._entries if k[0] == app_key]:
            del self._entries[key]
        self.generation += 1

    def put(self, key: tuple[str, str], caller: Caller | None, now: float) -> None:
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._entries.clear()  # crude but bounded: a flood of random keys cannot grow it
        ttl = KEY_CACHE_SECONDS if caller is not None else MISS_CACHE_SECONDS
        self._entries[key] = (now + ttl, caller)


async def _load(state: AppState, app_key: str, secret: str) -> Caller | None:
    async with state.pool.connection() as conn:
        grant = await keys.find_key(conn, app_key, secret)
    if grant is None:
        return None
    return Caller(grant.key_id, grant.app_id, grant.application_key, grant.scopes,
                  Limits.from_settings(state.settings, grant.limit_overrides),
                  IntakeRate.from_settings(state.settings, grant.limit_overrides))


async def _record_use(state: AppState, key_id: int) -> None:
    try:
        async with state.pool.connection() as conn:
            await keys.record_use(conn, [key_id])
    except Exception as exc:  # a missed stamp is retried with the key's next use a minute on
        log.debug("last use of key %d not recorded: %s", key_id, exc)


def note_use(state: AppState, key_id: int, now: float) -> None:
    """Record the key's use in the background, unless this process did within the minute."""
    cache = state.keys
    noted = cache.use_noted.get(key_id)
    if noted is not None and now - noted < keys.LAST_USE_RESOLUTION_SECONDS:
        return
    if len(cache.use_noted) >= MAX_CACHED_KEYS:
        cache.use_noted.clear()
    cache.use_noted[key_id] = now
    task = asyncio.get_running_loop().create_task(_record_use(state, key_id))
    cache.use_writes.add(task)
    task.add_done_callback(cache.use_writes.discard)


async def _load_into_cache(state: AppState, key: tuple[str, str]) -> Caller | None:
    cache = state.keys
    generation = cache.generation
    caller = await _load(state, *key)
    if cache.generation == generation:  # no drop since the query began: what it read stands
        cache.put(key, caller, time.monotonic())
    return caller


async def lookup(state: AppState, app_key: str, secret: str) -> Caller | None:
    # Keyed by the raw secret (it is in this process's memory anyway): a hit costs no hashing.
    key = (app_key, secret)
    hit, caller = state.keys.get(key, time.monotonic())
    if hit:
        return caller
    return await state.keys.loads.run(key, lambda: _load_into_cache(state, key))


async def watch_key_changes(state: AppState) -> None:
    """Background task: drop cached keys of apps whose keys changed (``domain.keys.announce``).
    Reconnects after a Redis failure; meanwhile entries expire on their own."""
    failures = 0
    while True:
        try:
            async with state.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(announce.CHANNEL)
                # Whatever changed while we were not listening is forgotten too.
                state.keys.expire_all()
                if failures:
                    log.info("key-change listener listening again")
                failures = 0
                async for message in pubsub.listen():
                    app_key = message.get("data")
                    if isinstance(app_key, bytes):
                        state.keys.expire_app(app_key.decode(errors="replace"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis down or restarted: listen again a little later
            failures += 1
            log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                    "key-change listener: %s; retrying every second", exc)
            await asyncio.sleep(1.0)


def _unauthorized(message: str, parameter: str = "Authorization") -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, parameter=parameter, source="header")


def _credentials(request: Request) -> tuple[str, str]:
    """(secret, application key) from the request's headers, each present exactly once."""
    # One pass over the headers, counting copies (a list per name cost a visible share of the
    # hot route).
    raw_secret = raw_app_key = b""
    secrets = app_keys = 0
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            raw_secret, secrets = value, secrets + 1
        elif name == b"application-key":
            raw_app_key, app_keys = value, app_keys + 1
    for count, raw, name in ((secrets, raw_secret, "Authorization"),
                             (app_keys, raw_app_key, "Application-Key")):
        if count > 1:
            raise _unauthorized(f"{count} {name} headers were sent; send exactly one", name)
        if not raw:
            raise _unauthorized(f"Missing {name} header", name)
    secret = raw_secret.decode("latin-1")
    app_key = raw_app_key.decode("latin-1")
    if len(secret) > _MAX_HEADER_CHARS or len(app_key) > _MAX_HEADER_CHARS:
        raise _unauthorized("Invalid API key or application key")
    if secret[:7].lower() == "bearer ":
        raise _unauthorized("Send the API key secret raw: 'Authorization: <secret>', without "
                            "'Bearer '")
    return secret, app_key


def _address(request: Request) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


async def authenticate(request: Request, scope: str | None = None, *,
                       intake: bool = False) -> Caller:
    """The caller behind the request's keys; 401 ``UNAUTHORIZED``, 403 ``FORBIDDEN`` or 429
    ``RATE_LIMITED`` (too many wrong secrets from this address; with ``intake``, the app past
    its intake rate, the request counted otherwise)."""
    secret, app_key = _credentials(request)
    state = get_state(request)
    address = _address(request)
    now = time.monotonic()
    hit, caller = state.keys.get((app_key, secret), now)
    if not hit or caller is None:
        # Not known good: refuse a throttled address before the secret is checked.
        await state.limiter.admit(state.redis, state.settings, app_key, address)
        caller = await lookup(state, app_key, secret)
        if caller is None:
            failures = await ratelimit.note_wrong_secret(state.redis, state.settings, app_key,
                                                         address)
            if failures >= state.settings.auth_failure_limit:
                state.limiter.block(app_key, address,
                                    state.settings.auth_failure_window_seconds * 1000)
            raise _unauthorized("Invalid API key or application key")
    else:
        # Known good from the cache: throttled only if this process saw the address throttled.
        state.limiter.blocked(app_key, address, now)
    allowed = scope is None or caller.allows(scope)
    if intake and allowed and not (caller.rate.per_second > 0
                                   and state.limiter.leased(caller.app_id)):
        await state.limiter.admit(state.redis, state.settings, app_key, address,
                                  app_id=caller.app_id, rate=caller.rate)
    note_use(state, caller.key_id, now)
    if not allowed:
        raise ApiError(403, "FORBIDDEN", f"This API key lacks the '{scope}' scope",
                       parameter="Authorization", value=scope, source="header")
    return caller
