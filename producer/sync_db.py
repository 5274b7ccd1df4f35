"""Running a domain function written for a synchronous connection (``domain.keys.store``: the
CLI's) from an async handler: in a worker thread, on a connection of its own (autocommit, so
``revoke_key`` commits before it announces). For the rare admin writes only (a key created or
revoked): the hot path never comes here, and a connection per call costs a few milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from shared.settings import Settings

T = TypeVar("T")
CONNECT_TIMEOUT_SECONDS = 3


async def with_sync_connection(settings: Settings,
                               work: Callable[[psycopg.Connection[Any]], T]) -> T:
    """``work(conn)`` in a thread; a PostgreSQL outage raises ``psycopg.OperationalError``
    (answered 503 by the API and the panel)."""

    def run() -> T:
        with psycopg.connect(settings.database_url, autocommit=True,
                             connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            return work(conn)

    return await asyncio.to_thread(run)
