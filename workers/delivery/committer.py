"""Where finished work goes: outcomes to ``dlr``, retries back onto their queue, the exactly-once
guard, and the acks — all in ONE Redis script call per flush.

Doing them together is what makes a crash harmless: either the outcome was published, the guard
set and the message acked, or none of it happened and the message is redelivered. Outcomes travel
as one ``pushflow.dlr.record`` task whose single argument is the LIST of ``SendResult``s of the
flush (a few ms or ``max_batch`` results), so the DLR worker pays Celery's per-task cost once per
batch, not per token.

An accepted send's guard does not wait for its flush: it is written at once on its own (the
answers of one loop turn in one call). A worker killed between a gateway's answer and the guard
sends that push again when its message is redelivered; writing the guard first leaves only the
loop's turn and the way to Redis in that time. A write does not wait for the one before to be
answered (up to ``EARLY_WRITES`` at once): on a loaded machine reading a reply can wait behind
whole loop turns of sends, and the guards handed over meanwhile would wait with it (the chaos
test's FCM kill resent pushes answered 0.25 s and more before the kill that way). A guard
without its flush is safe: the redelivered message finds it and is re-reported from it, not
resent (``Engine._skip_already_sent``). The flush writes the guard again with the rest (the same
value): if the early write fails, nothing is lost but the head start.

A flush whose reply never arrives (a Redis restart, a dropped connection) may still have run. Like
a take of ``reliable_queue``, it therefore keeps its number: it is replayed as it was, alone, and
the script, finding that number already recorded in this committer's ``pushflow:flushed:<id>``,
applies nothing. Without that, a lost reply would publish its outcomes twice and queue its retries
twice (each of which would then be sent).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import queues
from shared.jobs import SendResult
from shared.taskmessage import build_message, group_by_queue

log = logging.getLogger(__name__)
GUARD = "pushflow:sent:"
FLUSHED = "pushflow:flushed:"
RETRY_SECONDS = 0.5
EARLY_WRITES = 4  # early guard writes on their way at once (each holds a pooled connection)

# KEYS: this committer's last flush number, dlr, the guards, one queue per group of retries, then
# (when there are acks) the in-flight hash. ARGV: flush number, guard TTL, the dlr message ('' for
# none), number of guards, number of retry groups, the guards' values, per retry group its count
# and messages, then the acks. One call for everything: per-key SETs in a pipeline cost ~0.1 ms of
# client CPU each (command packing), a third of the committer's work at 1,000 outcomes/s.
_FLUSH = """
local number = tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or 0) >= number then return 0 end
local function chunked(cmd, key, first, last)  -- unpack() is limited to a few thousand values
  for i = first, last, 1000 do
    redis.call(cmd, key, unpack(ARGV, i, math.min(i + 999, last)))
  end
end
if ARGV[3] ~= '' then redis.call('LPUSH', KEYS[2], ARGV[3]) end
local guards, groups = tonumber(ARGV[4]), tonumber(ARGV[5])
local a = 6
for k = 3, 2 + guards do
  redis.call('SET', KEYS[k], ARGV[a], 'EX', ARGV[2])
  a = a + 1
end
for k = 3 + guards, 2 + guards + groups do
  local n = tonumber(ARGV[a])
  chunked('LPUSH', KEYS[k], a + 1, a + n)
  a = a + 1 + n
end
if a <= #ARGV then chunked('HDEL', KEYS[#KEYS], a, #ARGV) end
-- Kept as long as a guard: far longer than any replay of a flush that lost its reply.
redis.call('SET', KEYS[1], number, 'EX', ARGV[2])
return 1
"""


# KEYS: the guards. ARGV: their TTL, then their values.
_GUARDS = """
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
        # Its own name, not the worker's: a restarted worker may reuse its id, never this one.
        self.flushed_key = FLUSHED + secrets.token_hex(8)
        self._flushes = 0
        self._pending = _Pending()
        self._unanswered: tuple[int, _Pending] | None = None  # (flush number, its batch)
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._flush = redis.register_script(_FLUSH)
        self._write_guards = redis.register_script(_GUARDS)
        self._early_guards: list[tuple[str, bytes]] = []  # not yet in an early write
        self._guard_writes: set[asyncio.Task[None]] = set()  # on their way, EARLY_WRITES at most
        self._guard_starting = False  # a write will take _early_guards on the next loop turn

    def final(self, result: SendResult, ack_field: str | None, *, guard: bool,
              waiter: asyncio.Future[None] | None = None) -> None:
        """A final outcome. ``guard``: the gateway accepted, remember it for redeliveries."""
        p = self._pending
        p.results.append(result)
        if guard:
            entry = (guard_key(result["dispatchId"]), orjson.dumps(result))
            p.guards.append(entry)
            self._early_guards.append(entry)
            self._start_guard_write()
        self._add(ack_field, waiter)

    def _start_guard_write(self) -> None:
        """Start a write unless one is about to start or EARLY_WRITES are on their way (the
        first to finish then takes what is waiting)."""
        if self._guard_starting or len(self._guard_writes) >= EARLY_WRITES:
            return
        self._guard_starting = True
        task = asyncio.get_running_loop().create_task(self._guard_early())
        self._guard_writes.add(task)
        task.add_done_callback(self._guard_writes.discard)

    async def _guard_early(self) -> None:
        """Write the guards handed over until now. Its first step runs on the next loop turn, so
        the answers one read of the connection resolved go in one call."""
        self._guard_starting = False
        batch, self._early_guards = self._early_guards, []
        try:
            if batch:
                await self._write_guards(keys=[k for k, _ in batch],
                                         args=[self.guard_ttl, *(v for _, v in batch)])
        except RedisError as exc:  # their flush writes them (and retries until it can)
            log.debug("early guard write failed: %s", exc)
            return
        if self._early_guards:  # handed over while EARLY_WRITES were on their way
            self._guard_writes.discard(asyncio.current_task())
            self._start_guard_write()

    def requeue(self, queue: str, raw: bytes, ack_field: str | None,
                waiter: asyncio.Future[None] | None = None, *,
                report: SendResult | None = None) -> None:
        """A retry; ``report``: the attempt that failed, recorded by the DLR meanwhile."""
        self._pending.requeues.append((queue, raw))
        if report is not None:
            self._pending.results.append(report)
        self._add(ack_field, waiter)

    def ack_only(self, ack_field: str | None, waiter: asyncio.Future[None] | None = None) -> None:
        """Finish a message that needs no outcome of its own (never used for a final outcome)."""
        self._add(ack_field, waiter)

    def _add(self, ack_field: str | None, waiter: asyncio.Future[None] | None) -> None:
        if ack_field is not None:
            self._pending.acks.append(ack_field)
        if waiter is not None:
            self._pending.waiters.append(waiter)
        if self._unanswered is not None:
            return  # waits for the replay (its retry timer is set), then goes right after it
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
            if self._timer is not None:  # this flush takes what that timer was set for
                self._timer.cancel()
                self._timer = None
            while True:
                replay = self._unanswered is not None
                if self._unanswered is not None:
                    number, batch = self._unanswered
                elif self._pending.size():
                    self._flushes += 1
                    number, batch, self._pending = self._flushes, self._pending, _Pending()
                else:
                    return
                try:
                    await self._write(number, batch)
                except RedisError as exc:
                    # It may have run: replay it, same number, until an answer comes.
                    log.warning("could not commit %d outcomes, retrying: %s", batch.size(), exc)
                    self._unanswered = (number, batch)
                    self._schedule(RETRY_SECONDS)
                    return
                self._unanswered = None
                for waiter in batch.waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                if not replay:
                    return  # what came during the write has its own timer

    async def _write(self, number: int, batch: _Pending) -> None:
        message = build_message(queues.TASK_RECORD_RESULT, queues.DLR, [batch.results]
                                ) if batch.results else b""
        groups = group_by_queue(batch.requeues)
        keys: list[str] = [self.flushed_key, queues.DLR, *(k for k, _ in batch.guards), *groups]
        args: list[bytes | str | int] = [number, self.guard_ttl, message, len(batch.guards),
                                         len(groups), *(v for _, v in batch.guards)]
        for raws in groups.values():
            args += [len(raws), *raws]
        if batch.acks and self.inflight_key:
            keys.append(self.inflight_key)
            args += batch.acks
        await self._flush(keys=keys, args=args)

    async def close(self) -> None:
        await self.flush()
        while self._guard_writes:
            await asyncio.gather(*self._guard_writes, return_exceptions=True)
