"""Per-process shared resources of the API, created in the app's lifespan and kept on
``app.state.pf`` (never in module globals, so tests can run several apps in one process).

Use from a route module::

    from producer.state import get_state

    async def handler(request: Request) -> Response:
        state = get_state(request)
        async with state.pool.connection() as conn:      # psycopg AsyncConnection, autocommit
            await conn.execute("SELECT 1")
        await state.redis.ping()                          # redis.asyncio.Redis
        state.settings.max_body_bytes                     # shared.settings.Settings
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import ConnectionPool, Redis
from starlette.requests import Request

from domain.messages.configured import ConfiguredPlatforms
from producer.ratelimit import Limiter
from shared.settings import Settings

if TYPE_CHECKING:
    from domain.messages.outbox import OutboxAcks
    from producer.auth import KeyCache
    from producer.writer import IntakeWriter

# How long a request waits for a database connection before answering 503.
POOL_WAIT_SECONDS = 2.0
# How long the pool keeps retrying one lost connection (with its backoff: 1 s, 2 s, 4 s...)
# before giving it up. The library's default, minutes, leaves the API answering 503 for up to
# the current backoff step after PostgreSQL is back; given up early, a connection is opened
# again at once by the next request that waits for one (psycopg_pool grows the pool for it).
RECONNECT_GIVE_UP_SECONDS = 1.0


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    redis: Redis[bytes]
    keys: KeyCache
    acks: OutboxAcks
    writer: IntakeWriter
    platforms: ConfiguredPlatforms = field(default_factory=ConfiguredPlatforms)
    limiter: Limiter = field(default_factory=Limiter)
    _pool_check: asyncio.Task[None] | None = None

    def discard_dead_connections(self) -> None:
        """After a connection was found dead (PostgreSQL restarted, or our backends were ended),
        check the idle ones at once, so the next requests get live ones instead of each finding
        another dead one (one 503 per idle connection)."""
        if self._pool_check is None or self._pool_check.done():
            self._pool_check = asyncio.get_running_loop().create_task(self.pool.check())


def get_state(request: Request) -> AppState:
    # scope["app"] is what ``request.app`` returns, without the property's overhead: this
    # runs several times per request on the hot path.
    state: AppState = request.scope["app"].state.pf
    return state


async def configure_connection(conn: AsyncConnection[Any]) -> None:
    # Every statement of the API is one transaction: autocommit saves the BEGIN/COMMIT round
    # trips; statements that must be atomic are single statements (CTEs).
    await conn.set_autocommit(True)


def make_pool(settings: Settings) -> AsyncConnectionPool[AsyncConnection[Any]]:
    return AsyncConnectionPool(
        settings.database_url,
        min_size=min(2, settings.db_pool_size),
        max_size=settings.db_pool_size,
        open=False,
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
        configure=configure_connection,
        kwargs={"connect_timeout": 3, "application_name": "pushflow-api"},
        name="pushflow-api",
    )


def make_redis(settings: Settings) -> Redis[bytes]:
    # A pool of long-lived connections. Not redis-py's BlockingConnectionPool: its wait
    # machinery (condition, timeout scope) runs on every command, a measurable share of each
    # group's publish (docs/benchmarks.md, Intake), to guard a limit rarely reached: one command
    # per intake writer and the sweeper, plus one per Idempotency-Key request in flight. Past
    # the limit a publish fails like a Redis outage: the 202 stands, the outbox publishes later.
    pool: ConnectionPool[Any] = ConnectionPool.from_url(
        settings.redis_url, max_connections=64,
        socket_connect_timeout=1.0, socket_timeout=2.0,
    )
    return Redis(connection_pool=pool)
