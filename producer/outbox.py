"""Publishing send tasks, and the transactional outbox that makes the publish reliable.

The intake commits each dispatch together with an ``outbox`` row (``publish_at`` = now + a few
seconds, or the ``scheduleTime``), then publishes at once. A confirmed publish queues the row's
deletion, done in batches off the request path (``OutboxAcks``: by the next intake statement,
else by its own ``DELETE``). Whatever was not confirmed -- the
process died between commit and publish, Redis was down -- is published by the sweeper
(``run_sweeper``, a background task of every API process; ``FOR UPDATE SKIP LOCKED`` lets several
API instances sweep side by side) once ``publish_at`` has passed. Scheduled dispatches are
published the same way when their time comes, moving from ``scheduled`` to ``queued``.

Delivery is at-least-once: a process dying after the publish but before the deletion leads to a
second publish of the same dispatch id, which the workers deduplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import queues
from shared.jobs import MessageContent, SendJob
from shared.observability import metrics
from shared.taskmessage import build_message, group_by_queue

if TYPE_CHECKING:
    from producer.state import AppState

log = logging.getLogger("pushflow.outbox")

SWEEP_BATCH = 500
ACK_COALESCE_SECONDS = 0.02  # gather confirmations of concurrent requests into one DELETE
IDEMPOTENCY_PURGE_EVERY_SECONDS = 300.0

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
_PURGE_IDEMPOTENCY = (
    "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)"
)
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
    intake statement (``producer.persist``), else by ``run`` after ``ACK_COALESCE_SECONDS``."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.wake = asyncio.Event()

    def add(self, dispatch_ids: Sequence[str]) -> None:
        self.pending.extend(dispatch_ids)
        self.wake.set()

    def take(self) -> list[str]:
        """The pending ids, for a statement that deletes them (``producer.persist``); give them
        back with ``restore`` if it fails."""
        ids, self.pending = self.pending, []
        return ids

    def restore(self, ids: Sequence[str]) -> None:
        # Kept for the next round: the sweeper would otherwise publish them again.
        self.pending[:0] = ids

    async def flush(self, state: AppState) -> None:
        ids = self.take()
        if not ids:
            return
        try:
            async with state.pool.connection() as conn:
                await conn.execute(_ACK, (ids,))
        except Exception:
            self.restore(ids)
            raise

    async def run(self, state: AppState) -> None:
        while True:
            await self.wake.wait()
            await asyncio.sleep(ACK_COALESCE_SECONDS)
            self.wake.clear()
            try:
                await self.flush(state)
            except Exception as exc:
                log.warning("outbox acknowledgement failed, will retry: %s", exc)
                await asyncio.sleep(1.0)
                self.wake.set()


def _job_from_row(row: Sequence[Any]) -> SendJob:
    (dispatch_id, message_id, app_id, token, platform, lane, _status, content, ttl,
     request_id) = row
    return build_job(str(dispatch_id), str(message_id), int(app_id), token, platform,
                     content, ttl, request_id or "", lane)


async def sweep_once(state: AppState) -> int:
    """Publish due outbox rows; the number of rows handled. Rows stay if the publish fails."""
    async with state.pool.connection() as conn, conn.transaction():
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
            await publish(state.redis, [task_message(_job_from_row(r)) for r in due])
    if due:
        metrics.OUTBOX_REPUBLISHED.inc(len(due))
        log.info("outbox sweeper published %d dispatch(es)", len(due))
    return len(rows)


async def run_sweeper(state: AppState) -> None:
    interval = state.settings.outbox_sweep_interval_seconds
    next_purge = time.monotonic()
    while True:
        try:
            while await sweep_once(state) >= SWEEP_BATCH:
                pass
            if time.monotonic() >= next_purge:
                async with state.pool.connection() as conn:
                    await conn.execute(_PURGE_IDEMPOTENCY,
                                       (state.settings.idempotency_ttl_hours,))
                next_purge = time.monotonic() + IDEMPOTENCY_PURGE_EVERY_SECONDS
        except (RedisError, OSError) as exc:
            log.warning("outbox sweep: broker unavailable: %s", exc)
        except Exception as exc:
            log.warning("outbox sweep failed: %s", exc)
        await asyncio.sleep(interval)
