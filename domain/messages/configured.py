"""Which platforms an app has gateway credentials for (a row in ``app_credentials``), so the
intake refuses a token it could never deliver (``PLATFORM_NOT_CONFIGURED``, see
``domain.messages.plan``) instead of accepting it and failing it later with ``auth_config``.

Asked on every submission, so each process keeps the answer per app for ``CACHE_SECONDS``: a hit
costs a dict look-up, a miss one indexed query (concurrent misses of an app share it). Stored
credentials therefore count at the intake within that time. Whether they work is the send
workers' to find out (an undecryptable or refused credential is still ``auth_config``).
"""

from __future__ import annotations

import time
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from shared.queues import gateway_for
from shared.singleflight import SingleFlight
from shared.tokens import PLATFORMS, Platform

CACHE_SECONDS = 2.0
MAX_CACHED_APPS = 10_000
# A credentials row names its provider, the gateway its platform is sent through.
_PLATFORM: dict[str, Platform] = {gateway_for(platform): platform for platform in PLATFORMS}

_CONFIGURED = "SELECT provider FROM app_credentials WHERE app_id = %s"


async def configured_platforms(conn: AsyncConnection[Any], app_id: int) -> frozenset[Platform]:
    cur = await conn.execute(_CONFIGURED, (app_id,))
    return frozenset(_PLATFORM[row[0]] for row in await cur.fetchall() if row[0] in _PLATFORM)


class ConfiguredPlatforms:
    """App id -> the platforms it has credentials for, each entry valid ``CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, frozenset[Platform]]] = {}
        self._loads: SingleFlight[int, frozenset[Platform]] = SingleFlight()

    def cached(self, app_id: int) -> frozenset[Platform] | None:
        entry = self._entries.get(app_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def get(self, pool: AsyncConnectionPool[AsyncConnection[Any]], app_id: int
                  ) -> frozenset[Platform]:
        cached = self.cached(app_id)
        if cached is not None:
            return cached
        return await self._loads.run(app_id, lambda: self._load(pool, app_id))

    async def _load(self, pool: AsyncConnectionPool[AsyncConnection[Any]], app_id: int
                    ) -> frozenset[Platform]:
        async with pool.connection() as conn:
            platforms = await configured_platforms(conn, app_id)
        if len(self._entries) >= MAX_CACHED_APPS:
            self._entries.clear()  # bounded: one entry per app that sent within seconds
        self._entries[app_id] = (time.monotonic() + CACHE_SECONDS, platforms)
        return platforms
