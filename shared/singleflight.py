"""Single flight: at most one load per key under way at a time; everyone else who asks for the
same key meanwhile waits for that load's result (or its exception) instead of starting another.

For work that many sends or requests need at once and that is slow or rationed: an app's
configuration from PostgreSQL, an OAuth token from Google, an APNs JWT check in Redis, an API key
look-up. The caller keeps its own cache; this only keeps the loads from piling up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[V]] = {}

    def in_flight(self, key: K) -> bool:
        return key in self._flights

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """``load()``'s value, shared with every caller of ``run(key, ...)`` until it returns.
        A waiter that is cancelled does not cancel the load (it is shielded)."""
        pending = self._flights.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: the waiters (if any) re-raise it themselves
            raise
        finally:
            del self._flights[key]
        future.set_result(value)
        return value
