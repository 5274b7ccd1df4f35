"""Where finished work goes: outcomes to ``dlr``, retries back onto their queue, the exactly-once
guard, and the acks — all in ONE Redis transaction per flush.

Doing them together is what makes a crash harmless: either the outcome was published, the guard
set and the message acked, or none of it happened and the message is redelivered. Outcomes travel
as one ``pushflow.dlr.record`` task whose single argument is the LIST of ``SendResult``s of the
flush (a few ms or ``max_batch`` results), so the DLR worker pays Celery's per-task cost once per
batch, not per token.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import queues
from shared.jobs import SendResult
from shared.taskmessage import build_message

log = logging.getLogger(__name__)
GUARD = "pushflow:sent:"
# One command for all guards of a flush: per-key SETs in a pipeline cost ~0.1 ms of client CPU
# each (command packing), a third of the committer's work at 1,000 outcomes/s.
_SET_GUARDS = """
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""


def guard_key(dispatch_id: str) -> str:
    return GUARD + dispatch_id


@dataclass
class _Pending:
    results: list[SendResult] = field(default_factory=list)
    guards: list[tuple[str, bytes]] = field(default_factory=list)
    requeues: list[tuple[str, bytes]] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.results) + len(self.requeues) + len(self.acks)


class Committer:
    def __init__(
        self,
        redis: Redis[bytes],
        inflight_key: str | None,
        *,
        guard_ttl_seconds: int,
        flush_seconds: float = 0.005,
        max_batch: int = 500,
    ) -> None:
        self.redis = redis
        self.inflight_key = inflight_key
        self.guard_ttl = guard_ttl_seconds
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self._pending = _Pending()
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    def final(self, result: SendResult, ack_field: str | None, *, guard: bool,
              waiter: asyncio.Future[None] | None = None) -> None:
        """A final outcome. ``guard``: the gateway accepted, remember it for redeliveries."""
        p = self._pending
        p.results.append(result)
        if guard:
            p.guards.append((guard_key(result["dispatchId"]), orjson.dumps(result)))
        self._add(ack_field, waiter)

    def requeue(self, queue: str, raw: bytes, ack_field: str | None,
                waiter: asyncio.Future[None] | None = None) -> None:
        self._pending.requeues.append((queue, raw))
        self._add(ack_field, waiter)

    def _add(self, ack_field: str | None, waiter: asyncio.Future[None] | None) -> None:
        if ack_field is not None:
            self._pending.acks.append(ack_field)
        if waiter is not None:
            self._pending.waiters.append(waiter)
        if self._pending.size() >= self.max_batch:
            self._schedule(0)
        elif self._timer is None:
            self._schedule(self.flush_seconds)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, lambda: loop.create_task(self.flush()))

    async def flush(self) -> None:
        async with self._lock:
            self._timer = None
            batch, self._pending = self._pending, _Pending()
            if not batch.size():
                return
            try:
                await self._write(batch)
            except RedisError as exc:
                # Nothing was applied (MULTI): keep it all and try again shortly.
                log.warning("could not commit %d outcomes, retrying: %s", batch.size(), exc)
                self._merge_back(batch)
                self._schedule(0.5)
                return
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _write(self, batch: _Pending) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if batch.results:
                pipe.lpush(queues.DLR, build_message(
                    queues.TASK_RECORD_RESULT, queues.DLR, [batch.results]))
            if batch.guards:
                # EVAL, not EVALSHA: a NOSCRIPT error inside MULTI would not undo the rest.
                pipe.eval(_SET_GUARDS, len(batch.guards), *(k for k, _ in batch.guards),
                          self.guard_ttl, *(v for _, v in batch.guards))
            by_queue: dict[str, list[bytes]] = {}
            for queue, raw in batch.requeues:
                by_queue.setdefault(queue, []).append(raw)
            for queue, raws in by_queue.items():
                pipe.lpush(queue, *raws)
            if batch.acks and self.inflight_key:
                pipe.hdel(self.inflight_key, *batch.acks)
            await pipe.execute()

    def _merge_back(self, batch: _Pending) -> None:
        p = self._pending
        p.results[:0] = batch.results
        p.guards[:0] = batch.guards
        p.requeues[:0] = batch.requeues
        p.acks[:0] = batch.acks
        p.waiters[:0] = batch.waiters

    def ack_only(self, ack_field: str | None, waiter: asyncio.Future[None] | None = None) -> None:
        """Finish a message that needs no outcome of its own (never used for a final outcome)."""
        self._add(ack_field, waiter)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.flush()
