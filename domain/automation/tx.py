"""Submitting inside a transaction of automation's own: an ``Outlet`` for ``domain.messages.submit``
whose writer stores each message on the caller's connection, in the caller's transaction, so
that a message and automation's record of it (the event's answer, a pending send marked
released) commit together or not at all. The tasks are published only after that commit
(``publish``); if the process dies in between, the outbox sweeper publishes them.

Every read ``submit`` makes goes through the same connection too: a request holding one pooled
connection never waits for a second (no pool starvation under load).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from domain.messages import outbox, rows
from domain.messages.configured import ConfiguredPlatforms
from domain.messages.outbox import OutboxAcks
from domain.messages.rows import NewMessage
from domain.messages.submit import Outlet
from shared.settings import Settings


class _OneConnection:
    """Looks like a pool to ``submit``; always lends the one connection it holds."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        yield self.conn


class DeviceConflict(Exception):
    """A deferred message met a registered device that disagrees with its plan: the caller
    rolls its transaction back and runs it again with ``deferred=False`` (``submit`` then
    redoes the plan with the devices' verdict, as it does for the API)."""


class TransactionWriter:
    """A ``submit`` writer storing on one connection (inside the caller's transaction).

    ``deferred``: messages are gathered and stored together by ``flush`` -- one statement for a
    whole batch of events instead of one per message. ``store`` then answers True at once, and
    a device conflict (rare: a token registered under another platform, or invalidated) is
    found by ``flush``, which raises ``DeviceConflict``."""

    def __init__(self, conn: AsyncConnection[Any], sweep_after_seconds: float,
                 deferred: bool = False) -> None:
        self.conn = conn
        self.sweep_after = sweep_after_seconds
        self.deferred = deferred
        self.waiting: list[NewMessage] = []
        self.stored: list[NewMessage] = []

    async def store(self, message: NewMessage) -> bool:
        if self.deferred:
            self.waiting.append(message)
            return True
        stored = await rows.insert_batch(self.conn, [message], self.sweep_after)
        if message.message_id not in stored:
            return False
        self.stored.append(message)
        return True

    async def flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        stored = await rows.insert_batch(self.conn, waiting, self.sweep_after)
        if len(stored) < len(waiting):
            raise DeviceConflict(f"{len(waiting) - len(stored)} message(s) met a device change")
        self.stored.extend(waiting)


class TransactionOutlet:
    """The outlet ``submit`` gets: ``base``'s Redis and caches, the caller's connection."""

    def __init__(self, base: Outlet, conn: AsyncConnection[Any], deferred: bool = False
                 ) -> None:
        self.base = base
        self.settings: Settings = base.settings
        self.redis: Redis[bytes] = base.redis
        self.acks: OutboxAcks = base.acks
        self.platforms: ConfiguredPlatforms = base.platforms
        self.pool = cast(AsyncConnectionPool[AsyncConnection[Any]], _OneConnection(conn))
        self.writer = TransactionWriter(conn, base.settings.outbox_sweep_after_seconds,
                                        deferred)

    async def publish(self) -> None:
        """After the commit: the stored messages' tasks onto their queues."""
        messages, self.writer.stored = self.writer.stored, []
        await outbox.publish_messages(self.base, messages)
