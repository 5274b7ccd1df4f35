"""One delivery runtime per worker process and gateway: a thread running the process's one
long-lived asyncio loop (uvloop when installed), which holds the gateway connections, the engine,
the committer and — in batched mode — the consumer that feeds it from the Redis lists.

Two ways in, one engine:
- batched (the default): ``start_consuming(queues)`` — the Celery bootstep hands the send queues
  to this consumer instead of Celery's per-message consumer;
- per task: ``run_one(job, ...)`` — an ordinary Celery task submits one job and waits until its
  outcome is committed (kept so any plain Celery worker can consume the same messages).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from shared.jobs import SendJob
from shared.queues import lane_of
from shared.settings import Settings
from shared.taskmessage import decode_message
from workers.delivery.appconfig import AppConfigCache
from workers.delivery.committer import Committer
from workers.delivery.engine import Engine, Work
from workers.delivery.events import TaskEvents
from workers.delivery.gateway import GatewayFactory
from workers.delivery.metrics import default_metrics
from workers.delivery.reliable_queue import ReliableQueue, Taken
from workers.delivery.retry import parse_eta

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.01
HEARTBEAT_SECONDS = 3.0
SWEEP_SECONDS = 5.0


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()


class DeliveryRuntime:
    def __init__(
        self,
        settings: Settings,
        gateway_factory: GatewayFactory,
        provider: str,
        visibility_timeout: float,
        max_in_flight: int | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.max_in_flight = max_in_flight or settings.delivery_max_in_flight
        self.batch_size = min(self.max_in_flight, settings.delivery_batch_size)
        # Taken ahead of the window: while ``max_in_flight`` sends are on the wire, up to a batch
        # more wait ready (engine.window), so a finished send is followed at once, not after a
        # take and a guard read (two Redis round trips that left the window part empty).
        self.max_taken = self.max_in_flight + self.batch_size
        # Take once a quarter batch of room is free: three quarters of a batch are still ready
        # then, to cover the take and the guard read even when Redis answers slowly (a loaded
        # machine: bench/delivery.py's fill was 0.85 with half a batch).
        self.take_at = max(1, self.batch_size // 4)
        self._blocked = False  # no lane had room at the last look: a finished send wakes the take
        self.worker_id = f"{provider}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._visibility_timeout = visibility_timeout
        self._gateway_factory = gateway_factory
        self.loop = new_loop()
        self._ready = threading.Event()
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=f"pushflow-{provider}",
                                        daemon=True)
        self._setup_error: BaseException | None = None
        self._thread.start()
        self._ready.wait()
        if self._setup_error is not None:
            raise RuntimeError(f"{provider} delivery runtime failed to start"
                               ) from self._setup_error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._setup())
        except BaseException as exc:
            self._setup_error = exc
            self._ready.set()
            raise
        self._ready.set()
        self.loop.run_forever()

    async def _setup(self) -> None:
        s = self.settings
        # Blocking pool: a burst waits for a free connection instead of failing.
        self.redis = Redis(connection_pool=BlockingConnectionPool.from_url(
            s.redis_url, max_connections=32, timeout=30))
        self.queue = ReliableQueue(self.redis, self.worker_id, [])
        self.committer = Committer(self.redis, self.queue.inflight,
                                   guard_ttl_seconds=s.delivery_guard_ttl_seconds)
        self.gateway = self._gateway_factory(s, self.redis)
        self.engine = Engine(s, self.redis, self.gateway, self.committer,
                             AppConfigCache(s, self.provider),  # type: ignore[arg-type]
                             default_metrics(), self._visibility_timeout,
                             on_done=self._on_done, window=self.max_in_flight)
        self._wake = asyncio.Event()

    def call(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    # --- per-task path -------------------------------------------------------------------
    def run_one(self, job: SendJob, queue: str, task_name: str, timeout: float) -> None:
        """Send one job and return once its outcome (or retry) is committed to Redis."""
        self.call(self._run_one(job, queue, task_name)).result(timeout)

    async def _run_one(self, job: SendJob, queue: str, task_name: str) -> None:
        waiter: asyncio.Future[None] = self.loop.create_future()
        self.engine.submit([Work(job, queue, task_name, None, waiter)])
        await waiter

    # --- batched path --------------------------------------------------------------------
    def start_consuming(self, queues: list[str], events: TaskEvents | None = None) -> None:
        self.call(self._start_consuming(queues, events)).result(30)

    async def _start_consuming(self, queues: list[str], events: TaskEvents | None) -> None:
        if self._consumer is not None:
            return
        if events is not None:
            self.engine.events = events
        # The transactional lane always first: bulk only gets the room tx leaves.
        self.queue.queues = sorted(queues, key=lambda q: (not q.endswith(".tx"), q))
        await self.queue.register()
        restored = await self.queue.restore_dead()
        if restored:
            log.warning("requeued %d messages of dead workers", restored)
        self._consumer = self.loop.create_task(self._consume())
        self.loop.create_task(self._housekeeping())
        log.info("%s consuming %s as %s", self.provider, ",".join(self.queue.queues),
                 self.worker_id)

    def _on_done(self, n: int) -> None:
        # Woken only when the take waits for room and some is back: not once per finished send.
        if self._wake is not None and self._blocked and self._takeable()[0]:
            self._wake.set()

    def _takeable(self) -> tuple[list[str], int]:
        """The queues with room to take from, transactional first, and how many to take."""
        room = min(self.max_taken - self.engine.busy, self.batch_size)
        if room < self.take_at:
            return [], 0
        closed = self.engine.full_lanes()
        # Bulk sends held at most (engine.bulk_limit): the rest of the window is the
        # transactional lane's, and bulk never fills it to a queue a tx send would wait behind.
        bulk_limit = min(self.engine.bulk_limit.value, self.max_taken)
        bulk_room = bulk_limit - self.engine.busy_in("bulk")
        if bulk_room < min(self.take_at, bulk_limit):
            closed.add("bulk")
        elif "bulk" not in closed:
            room = min(room, bulk_room)
        return [q for q in self.queue.queues if lane_of(q) not in closed], room

    async def _consume(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            queues, n = self._takeable()
            self._blocked = not queues
            if not queues:
                self._wake.clear()  # no room, or every lane parked to its bound: wait for some
                await self._wait_wake(1.0)
                continue
            try:
                taken = await self.queue.take(n, queues)
            except Exception as exc:  # Redis hiccup: keep going
                log.warning("taking from %s failed: %s", self.queue.queues, exc)
                await asyncio.sleep(0.5)
                continue
            if taken:
                self._dispatch(taken)
            else:
                self._wake.clear()
                await self._wait_wake(IDLE_POLL_SECONDS)

    async def _wait_wake(self, timeout: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _dispatch(self, taken: list[Taken]) -> None:
        now = time.time()
        ready = []
        for t in taken:
            try:
                task_name, args, _kwargs, headers = decode_message(t.raw)
                work = Work(args[0], t.queue, task_name, t.field, task_id=headers.get("id"))
                eta = parse_eta(headers.get("eta"))
            except Exception:
                log.exception("undecodable message on %s dropped", t.queue)
                self.committer.ack_only(t.field)
                continue
            self.engine.events.received(work)
            if eta is not None and eta > now:
                # A retry not yet due: hold it on the loop (still in flight, so safe).
                self.loop.call_later(eta - now, self.engine.submit, [work])
            else:
                ready.append(work)
        self.engine.submit(ready)

    async def _housekeeping(self) -> None:
        last_sweep = 0.0
        while not self._stopping:
            try:
                await self.queue.heartbeat()
                if time.monotonic() - last_sweep > SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    restored = await self.queue.restore_dead()
                    if restored:
                        log.warning("requeued %d messages of dead workers", restored)
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)
            default_metrics().in_flight.labels(self.provider).set(self.engine.active)
            default_metrics().connections.labels(self.provider).set(
                self.gateway.open_connections())
            await asyncio.sleep(HEARTBEAT_SECONDS)

    # --- stop ------------------------------------------------------------------------------
    def stop(self, drain_seconds: float = 10.0) -> None:
        if not self.loop.is_running():
            return
        try:
            self.call(self._stop(drain_seconds)).result(drain_seconds + 10)
        except Exception:
            log.exception("unclean stop of the %s runtime", self.provider)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _stop(self, drain_seconds: float) -> None:
        self._stopping = True
        self.engine.accepting = False  # held retries and parked jobs go back via restore_own
        if self._consumer is not None:
            self._consumer.cancel()
        await self.engine.drain(drain_seconds)
        await self.committer.close()
        if self._consumer is not None:
            restored = await self.queue.restore_own()
            if restored:
                log.info("handed back %d unfinished messages", restored)
        await self.gateway.close()
        await self.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
