"""An ``Outlet`` for callers outside the API process (``pushflow send``; tests of ``submit``):
a small pool of its own, a Redis client and a ``DirectWriter`` storing each message in a
statement of its own. The API's outlet is ``producer.state.AppState``.

    async with standalone_outlet(settings) as outlet:
        await submit(app, request, outlet=outlet)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from domain.messages.configured import ConfiguredPlatforms
from domain.messages.outbox import OutboxAcks
from domain.messages.submit import DirectWriter
from shared.settings import Settings

CONNECT_SECONDS = 5.0  # how long opening waits for PostgreSQL before giving up


@dataclass
class StandaloneOutlet:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    redis: Redis[bytes]
    acks: OutboxAcks = field(default_factory=OutboxAcks)
    platforms: ConfiguredPlatforms = field(default_factory=ConfiguredPlatforms)
    writer: DirectWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = DirectWriter(self, self.settings.outbox_sweep_after_seconds)


async def _autocommit(conn: AsyncConnection[Any]) -> None:
    # As in the API: each statement of submit is a transaction of its own (CTEs).
    await conn.set_autocommit(True)


@contextlib.asynccontextmanager
async def standalone_outlet(settings: Settings) -> AsyncIterator[StandaloneOutlet]:
    """The outlet, open; raises ``psycopg_pool.PoolTimeout`` when PostgreSQL cannot be reached."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        settings.database_url, min_size=1, max_size=2, open=False, configure=_autocommit,
        kwargs={"connect_timeout": 3}, name="pushflow-standalone")
    await pool.open(wait=True, timeout=CONNECT_SECONDS)
    client: Redis[bytes] = Redis.from_url(settings.redis_url, socket_connect_timeout=2.0,
                                          socket_timeout=2.0)
    outlet = StandaloneOutlet(settings, pool, client)
    try:
        yield outlet
    finally:
        try:
            # Confirmed publishes leave the outbox, as the API's acknowledgement task does;
            # else the sweeper would publish them again.
            await outlet.acks.flush(outlet)
        finally:
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate 5.0
            await pool.close()
