"""The API process's outbox sweeper: every ``outbox_sweep_interval_seconds`` it publishes what
the intake committed and could not publish, and scheduled pushes whose time has come
(``domain.messages.outbox.sweep``), and now and then drops expired idempotency keys."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from domain.messages import idempotency
from domain.messages.outbox import SWEEP_BATCH, sweep

if TYPE_CHECKING:
    from producer.state import AppState

log = logging.getLogger("pushflow.outbox")

IDEMPOTENCY_PURGE_EVERY_SECONDS = 300.0


async def sweep_once(state: AppState) -> int:
    """One sweep; the number of outbox rows handled."""
    return await sweep(state)


async def run_sweeper(state: AppState) -> None:
    interval = state.settings.outbox_sweep_interval_seconds
    next_purge = time.monotonic()
    while True:
        try:
            while await sweep(state) >= SWEEP_BATCH:
                pass
            if time.monotonic() >= next_purge:
                async with state.pool.connection() as conn:
                    await idempotency.purge_expired(conn, state.settings.idempotency_ttl_hours)
                next_purge = time.monotonic() + IDEMPOTENCY_PURGE_EVERY_SECONDS
        except (RedisError, OSError) as exc:
            log.warning("outbox sweep: broker unavailable: %s", exc)
        except Exception as exc:
            log.warning("outbox sweep failed: %s", exc)
        await asyncio.sleep(interval)
