"""Publishing send tasks, and the transactional outbox that makes the publish reliable.

A submission commits each dispatch together with an ``outbox`` row (``publish_at`` = now + a few
seconds, or the ``scheduleTime``), and only then publishes (``publish_messages``). A confirmed
publish queues the row's deletion, done in batches off the submission's path (``OutboxAcks``: by
the next intake statement, else by its own ``DELETE``). Whatever was not confirmed -- the process
died between commit and publish, Redis was down -- is published by the sweeper (``sweep``, run
periodically by every API process; ``FOR UPDATE SKIP LOCKED`` lets several sweep side by side)
once ``publish_at`` has passed. Scheduled dispatches are published the same way when their time
comes, moving from ``scheduled`` to ``queued``.

Delivery is at-least-once: a process dying after the publish but before the deletion leads to a
second publish of the same dispatch id, which the workers deduplicate. Each task goes to its
dispatch's lane (``shared.queues.send_queue``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import queues
from shared.jobs import MessageContent, SendJob
from shared.observability import metrics
from shared.taskmessage import build_message, group_by_queue

if TYPE_CHECKING:
    from domain.messages.rows import NewMessage

log = logging.getLogger("pushflow.outbox")

SWEEP_BATCH = 500
ACK_COALESCE_SECONDS = 0.02  # gather confirmations of concurrent requests into one DELETE


class Broker(Protocol):
    """What publishing needs: the database (outbox acknowledgements) and Redis."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]: ...
    @property
    def redis(self) -> Redis[bytes]: ...
    @property
    def acks(self) -> OutboxAcks: ...

_SWEEP_SELECT = """
SELECT o.dispatch_id, d.message_id, d.app_id, d.device_token, d.platform, d.lane, d.status,
       m.content, extract(epoch FROM m.ttl)::bigint, m.request_id
FROM outbox o
LEFT JOIN dispatches d ON d.id = o.dispatch_id
LEFT JOIN messages m ON m.id = d.message_id
WHERE o.publish_at <= now()
ORDER BY o.publish_at
LIMIT %s
FOR UPDATE OF o SKIP LOCKED
"""
# Published (or no longer publishable) rows leave the outbox; scheduled ones become queued.
_SWEEP_DONE = """
WITH gone AS (DELETE FROM outbox WHERE dispatch_id = ANY(%(all)s::uuid[])),
     up AS (UPDATE dispatches SET status = 'queued', updated_at = now()
            WHERE id = ANY(%(sent)s::uuid[]) AND status = 'scheduled' RETURNING id)
INSERT INTO dispatch_events (dispatch_id, status) SELECT id, 'queued' FROM up
"""
_ACK = "DELETE FROM outbox WHERE dispatch_id = ANY(%s::uuid[])"
_PUBLISHABLE = ("queued", "scheduled")


def build_job(dispatch_id: str, message_id: str, app_id: int, token: str, platform: Any,
              content: MessageContent, ttl: int | None, request_id: str,
              lane: Any = "tx") -> SendJob:
    return {"dispatchId": dispatch_id, "messageId": message_id, "appId": app_id,
            "token": token, "platform": platform, "lane": lane, "message": content,
            "ttl": ttl, "attempt": 1, "requestId": request_id, "enqueuedAt": time.time()}


def task_message(job: SendJob) -> tuple[str, bytes]:
    """(queue, Celery message) for one send job."""
    queue = queues.send_queue(job["platform"], job["lane"])
    return queue, build_message(queues.send_task(job["platform"]), queue, [job],
                                task_id=job["dispatchId"])


async def publish(redis: Redis[bytes], messages: Sequence[tuple[str, bytes]]) -> None:
    """LPUSH every message onto its queue in one round trip; raises RedisError on failure."""
    grouped = group_by_queue(messages)
    if len(grouped) == 1:
        ((queue, items),) = grouped.items()
        await redis.lpush(queue, *items)
        return
    async with redis.pipeline(transaction=False) as pipe:
        for queue, items in grouped.items():
            pipe.lpush(queue, *items)
        await pipe.execute()


class OutboxAcks:
    """Dispatch ids whose publish was confirmed, deleted from the outbox in batches: by the next
    intake statement (``domain.messages.rows``), else by ``run`` after
    ``ACK_COALESCE_SECONDS``."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.wake = asyncio.Event()

    def add(self, dispatch_ids: Sequence[str]) -> None:
        self.pending.extend(dispatch_ids)
        self.wake.set()

    def take(self) -> list[str]:
        """The pending ids, for a statement that deletes them (``domain.messages.rows``); give
        them back with ``restore`` if it fails."""
        ids, self.pending = self.pending, []
        return ids

    def restore(self, ids: Sequence[str]) -> None:
        # Kept for the next round: the sweeper would otherwise publish them again.
        self.pending[:0] = ids

    async def flush(self, broker: Broker) -> None:
        ids = self.take()
        if not ids:
            return
        try:
            async with broker.pool.connection() as conn:
                await conn.execute(_ACK, (ids,))
        except Exception:
            self.restore(ids)
            raise

    async def run(self, broker: Broker) -> None:
        while True:
            await self.wake.wait()
            await asyncio.sleep(ACK_COALESCE_SECONDS)
            self.wake.clear()
            try:
                await self.flush(broker)
            except Exception as exc:
                log.warning("outbox acknowledgement failed, will retry: %s", exc)
                await asyncio.sleep(1.0)
                self.wake.set()


def _job_from_row(row: Sequence[Any]) -> SendJob:
    (dispatch_id, message_id, app_id, token, platform, lane, _status, content, ttl,
     request_id) = row
    return build_job(str(dispatch_id), str(message_id), int(app_id), token, platform,
                     content, ttl, request_id or "", lane)


async def sweep(broker: Broker) -> int:
    """Publish due outbox rows; the number of rows handled. Rows stay if the publish fails."""
    async with broker.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_SWEEP_SELECT, (SWEEP_BATCH,))
        rows = await cur.fetchall()
        if not rows:
            return 0
        due = [r for r in rows if r[1] is not None and r[6] in _PUBLISHABLE]
        sent = [str(r[0]) for r in due]
        # Status first (rows locked until commit, so no report can overtake it), then publish:
        # a failed publish raises and rolls the whole batch back.
        await conn.execute(_SWEEP_DONE, {"all": [str(r[0]) for r in rows], "sent": sent})
        if due:
            await publish(broker.redis, [task_message(_job_from_row(r)) for r in due])
    if due:
        metrics.OUTBOX_REPUBLISHED.inc(len(due))
        log.info("outbox sweeper published %d dispatch(es)", len(due))
    return len(rows)


async def publish_messages(broker: Broker, messages: list[NewMessage]) -> None:
    """Publish the tasks of COMMITTED messages (never before: a task for a dispatch that is not
    stored would be sent and never recorded); on failure the sweeper publishes later."""
    jobs = [job for m in messages for job in m.jobs]
    if not jobs:
        return
    try:
        await publish(broker.redis, [task_message(job) for job in jobs])
    except (RedisError, OSError) as exc:
        log.warning("publish of %d task(s) failed, the outbox will retry: %s", len(jobs), exc)
        return
    broker.acks.add([job["dispatchId"] for job in jobs])
