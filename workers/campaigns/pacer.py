"""The pacer: a process of its own (``pushflow pacer``; one or more, they share the work) that
feeds every running campaign into the bulk lanes at the campaign's rate.

Why a process and not a Celery beat task: pacing needs a step every ``TICK_SECONDS`` (a pause
must stop new sends within 2 s, and a rate of thousands per second is spent in small, even
groups); beat schedules in seconds at best, its tasks would queue behind the DLR's work, and a
step is a few milliseconds of PostgreSQL that gains nothing from a task message. Like the
webhook sender, it is an asyncio loop; all its state that matters is in PostgreSQL.

Each tick: release scheduled campaigns whose time has come, read the lanes' load from Redis
(``workers.campaigns.signals``), and run one step per running campaign and gateway
(``domain.campaigns.pacing.step``), each in its own transaction, publishing after the commit.
What is on its way on the bulk lane (queued, or taken by a send worker and not finished) stays
under ``domain.campaigns.pacing.BACKLOG_SECONDS`` of what the lane finishes per second lately
(``workers.campaigns.signals.Drain``), so a pause stops the sends within about that, at any
speed. Every ``HOUSEKEEPING_SECONDS``: the canary verdicts, the end of
campaigns whose recipients are all final, and an outbox sweep (what a pacer killed between
commit and publish left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from domain.campaigns import pacing, progress
from domain.messages import outbox
from domain.messages.configured import ConfiguredPlatforms
from domain.messages.outbox import OutboxAcks
from shared.queues import Gateway, gateway_for
from shared.settings import Settings
from shared.tokens import PLATFORMS, Platform
from workers.campaigns.signals import Drain, LaneLoad, SlowDown, lane_load

log = logging.getLogger("pushflow.pacer")

TICK_SECONDS = 0.1
HOUSEKEEPING_SECONDS = 1.0

_RELEASE = """UPDATE campaigns SET state = 'running', started_at = now(), updated_at = now()
WHERE state = 'scheduled' AND schedule_time <= now() RETURNING id::text"""
_RUNNING = """SELECT id::text, app_id, canary_state, canary_max_failure FROM campaigns
WHERE state = 'running' ORDER BY created_at"""


class Pacer:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool[AsyncConnection[Any]],
                 redis: Redis[bytes]) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.acks = OutboxAcks()
        self.platforms = ConfiguredPlatforms()
        self.slowdowns: dict[Gateway, SlowDown] = {"apns": SlowDown(), "fcm": SlowDown()}
        self.drains: dict[Gateway, Drain] = {"apns": Drain(), "fcm": Drain()}
        self.housekept_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:
                log.exception("pacer: step failed; trying again")
            wait = max(0.0, TICK_SECONDS - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        await self.acks.flush(self)

    async def tick(self) -> None:
        async with self.pool.connection() as conn:
            for (released,) in await (await conn.execute(_RELEASE)).fetchall():
                log.info("pacer: campaign %s starts (its scheduleTime)", released)
            running = await (await conn.execute(_RUNNING)).fetchall()
        now = time.monotonic()
        loads: dict[Gateway, LaneLoad] = {}
        factors: dict[Gateway, float] = {}
        drained: dict[Gateway, float] = {}
        for gateway, slowdown in self.slowdowns.items():
            loads[gateway] = await lane_load(self.redis, gateway)
            factors[gateway] = slowdown.update(loads[gateway], now, time.time())
            drained[gateway] = self.drains[gateway].update(loads[gateway].bulk_depth, now)
        queued: dict[Gateway, int] = {g: load.bulk_depth for g, load in loads.items()}
        for campaign_id, app_id, _canary, _max in running:
            for platform in PLATFORMS:
                gateway = gateway_for(platform)
                fed = await self._step(app_id, campaign_id, platform, factors[gateway],
                                       queued[gateway], drained[gateway])
                queued[gateway] += fed
                self.drains[gateway].fed += fed
        if now - self.housekept_at >= HOUSEKEEPING_SECONDS:
            self.housekept_at = now
            await self._housekeeping(running)

    async def _step(self, app_id: int, campaign_id: str, platform: Platform, factor: float,
                    queued: int, drained: float) -> int:
        async with self.pool.connection() as conn:
            writer = pacing.TransactionWriter(conn, self.settings.outbox_sweep_after_seconds)
            outlet = pacing.StepOutlet(self.settings, self.pool, self.redis, self.acks,
                                       self.platforms, writer)
            async with conn.transaction():
                step = await pacing.step(conn, outlet, app_id, campaign_id, platform,
                                         factor=factor, on_its_way=queued, drained=drained)
        if step.messages:
            await outbox.publish_messages(outlet, step.messages)
        if step.taken:
            log.debug("pacer: %s %s took %d at %.1f/s (%d on its way)", campaign_id, platform,
                      step.taken, step.rate, queued)
        return step.submitted

    async def _housekeeping(self, running: list[Any]) -> None:
        async with self.pool.connection() as conn:
            for campaign_id, _app, canary_state, max_failure in running:
                if canary_state == "sending" and max_failure is not None:
                    verdict = await progress.judge_canary(conn, campaign_id, max_failure)
                    if verdict is not None and verdict != "passed":
                        log.warning("pacer: campaign %s halted: %s", campaign_id, verdict)
                if await progress.finish_if_done(conn, campaign_id):
                    log.info("pacer: campaign %s finished", campaign_id)
        await outbox.sweep(self)
        await self.acks.flush(self)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run one pacer until ``stop`` is set."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        settings.database_url, min_size=1, max_size=4, open=False, configure=_autocommit,
        kwargs={"connect_timeout": 3}, name="pushflow-pacer")
    await pool.open(wait=True, timeout=10)
    redis: Redis[bytes] = Redis.from_url(settings.redis_url, socket_connect_timeout=2.0,
                                         socket_timeout=5.0)
    try:
        await Pacer(settings, pool, redis).run(stop)
    finally:
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate 5.0
        await pool.close()


async def _autocommit(conn: AsyncConnection[Any]) -> None:
    await conn.set_autocommit(True)
