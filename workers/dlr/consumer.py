"""The DLR queue consumed with a reliable take, so a Redis restart cannot drop a result batch.

Celery's Redis transport pops a message (BRPOP) and only then records it as unacknowledged, in a
second round trip: a Redis restart (or a lost connection) between the two drops the batch, and
its dispatches stay ``queued`` with no webhook. Here, as on the send lanes, one Lua call moves up
to a few messages from the list into this worker's in-flight hash
(``workers.delivery.reliable_queue``: liveness key, sweep of dead workers, replay of a take whose
reply was lost); a batch leaves the hash only once its transaction committed. Recording twice is
harmless (``domain.dispatches.record`` only moves statuses forward), so every failure is answered
by recording again, never by dropping.

Messages of other tasks on the queue (the beat jobs) run here too, once each, through Celery's
own ``Task.apply`` (signals, logs); a failed one is logged and the next beat runs it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import uuid
from typing import Any

import psycopg
from celery import Celery
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.queues import DLR, TASK_RECORD_RESULT
from shared.settings import Settings
from shared.taskmessage import decode_message
from workers.delivery.reliable_queue import ReliableQueue, Taken
from workers.delivery.runtime import HEARTBEAT_SECONDS, SWEEP_SECONDS
from workers.dlr.recording import Recorder, db_retry_countdown, record_results
from workers.observability import bind_job, count_recorded_results, unbind_job

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 0.05
REDIS_RETRY_SECONDS = 0.5
TAKE_MESSAGES = 8  # result batches per take, at least (each up to the committer's 500 results)


def is_dlr_queue(name: str) -> bool:
    """``dlr``, or a list of its own named ``dlr.<anything>`` (what the tests' recorders use)."""
    return name == DLR or name.startswith(DLR + ".")


class DlrConsumer:
    """A thread running an asyncio loop that takes from the DLR lists and records in
    ``recorders`` threads (the worker's ``--concurrency``), each with its own PostgreSQL
    connection: one recorder keeps the list's order, as Celery's solo pool does; more record
    that many batches at once, as its prefork pool does."""

    def __init__(self, settings: Settings, app: Celery, queues: list[str], recorders: int = 1
                 ) -> None:
        self.settings = settings
        self.app = app
        self.queues = queues
        self.recorders = recorders
        self.worker_id = f"dlr-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._pool = concurrent.futures.ThreadPoolExecutor(recorders, "pushflow-dlr-record")
        self._recorders = asyncio.Semaphore(recorders)
        self._local = threading.local()
        self.take_size = max(TAKE_MESSAGES, 2 * recorders)
        self._loop = asyncio.new_event_loop()
        self._main: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="pushflow-dlr", daemon=True)

    def start(self) -> DlrConsumer:
        self._thread.start()
        log.info("dlr consuming %s as %s (%d recorders)", ",".join(self.queues), self.worker_id,
                 self.recorders)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking, then hand back what is in flight (a batch being recorded is recorded
        again by whoever takes it: harmless)."""
        if self._main is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._main.cancel)
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._main = self._loop.create_task(self._consume())
        (outcome,) = self._loop.run_until_complete(
            asyncio.gather(self._main, return_exceptions=True))
        self._loop.close()
        if isinstance(outcome, Exception):  # a bug: say so, the worker no longer records
            log.error("dlr: the consumer stopped", exc_info=outcome)

    async def _consume(self) -> None:
        redis = Redis.from_url(self.settings.redis_url)
        queue = ReliableQueue(redis, self.worker_id, self.queues)
        housekeeping = asyncio.create_task(self._housekeeping(queue))
        unacked: list[str] = []  # recorded, not yet removed from the in-flight hash
        try:
            while True:
                try:
                    if unacked:
                        await redis.hdel(queue.inflight, *unacked)
                        unacked.clear()
                    taken = await queue.take(self.take_size)
                except RedisError as exc:
                    log.warning("dlr: taking from %s failed: %s", self.queues, exc)
                    await asyncio.sleep(REDIS_RETRY_SECONDS)
                    continue
                if not taken:
                    await asyncio.sleep(IDLE_POLL_SECONDS)
                    continue
                await self._handle(taken)
                unacked += [t.field for t in taken]
        finally:
            housekeeping.cancel()
            try:
                if unacked:
                    await redis.hdel(queue.inflight, *unacked)
                restored = await queue.restore_own()
                if restored:
                    log.info("dlr: handed back %d unfinished messages", restored)
            except RedisError as exc:  # the sweep of another worker hands them back instead
                log.warning("dlr: could not hand back in-flight messages: %s", exc)
            await redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    async def _housekeeping(self, queue: ReliableQueue) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = 0.0
        while True:
            try:
                await queue.heartbeat()
                if loop.time() - last_sweep > SWEEP_SECONDS:
                    last_sweep = loop.time()
                    restored = await queue.restore_dead()
                    if restored:
                        log.warning("requeued %d messages of dead workers", restored)
            except RedisError as exc:
                log.warning("dlr: heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _handle(self, taken: list[Taken]) -> None:
        """Record (or run) these messages, one transaction per result batch as the Celery task
        does; returns once they may be acked."""
        await asyncio.gather(*(self._handle_one(t) for t in taken))

    async def _handle_one(self, taken: Taken) -> None:
        async with self._recorders:  # FIFO: with one recorder, in the list's order
            loop = asyncio.get_running_loop()
            try:
                task_name, args, kwargs, headers = decode_message(taken.raw)
            except Exception:
                log.exception("dlr: undecodable message on %s dropped", taken.queue)
                return
            if task_name != TASK_RECORD_RESULT:
                await loop.run_in_executor(self._pool, self._run_task, task_name, args, kwargs,
                                           headers)
            elif not args or not isinstance(args[0], list):
                log.error("dlr: dropping a message whose argument is not a list")
            else:
                try:
                    await self._record_until_done(args[0])
                except Exception:
                    # What Celery does with a task that raised (task_acks_on_failure_or_timeout).
                    log.exception("dlr: batch of %d results could not be recorded",
                                  len(args[0]))

    async def _record_until_done(self, results: list[Any]) -> None:
        """Record; while the database is away, wait and try again (the messages stay in flight,
        safe if we die). Other errors are raised."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                await loop.run_in_executor(self._pool, self._record, results)
                return
            except (psycopg.OperationalError, psycopg.errors.DeadlockDetected) as exc:
                log.warning("dlr: database unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(db_retry_countdown(failures))
                failures += 1

    def _record(self, results: list[Any]) -> int:
        recorder: Recorder | None = getattr(self._local, "recorder", None)
        if recorder is None:
            recorder = self._local.recorder = Recorder()
        token = bind_job([results], None)  # the logs name the request, as a task's would
        try:
            moved = record_results(recorder, results)
            count_recorded_results([results])
            log.info("dlr: recorded %d results, %d dispatches moved forward", len(results), moved)
            return moved
        except psycopg.Error:
            recorder.drop_connection()
            raise
        finally:
            unbind_job(token)

    def _run_task(self, name: str, args: list[Any], kwargs: dict[str, Any],
                  headers: dict[str, Any]) -> None:
        task = self.app.tasks.get(name)
        if task is None:
            log.error("dlr: dropping a message of unknown task %s", name)
            return
        result = task.apply(args, kwargs, task_id=headers.get("id"))
        if result.failed():
            log.error("dlr: task %s failed: %r", name, result.result)
