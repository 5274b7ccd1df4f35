"""Batched, at-least-once consumption of the send queues (kombu's Redis lists).

Celery's consumer takes one message per round trip and spends ~1 ms of CPU per task, which caps a
process below the delivery target (docs/delivery.md). Here one Lua call moves up to N messages from
the lists (tx lane first, bulk only with the room left) into this worker's in-flight hash, and one
transaction later acks many at once. At-least-once is kept by liveness, not by a timeout:

- every worker holds ``pushflow:alive:<id>`` (expiring, refreshed by its heartbeat) and is listed
  in ``pushflow:workers``;
- a message taken but not finished stays in ``pushflow:inflight:<id>`` (field
  ``<queue>|<take>.<k>``: the k-th message that take number ``<take>`` moved from ``<queue>``);
- a sweep (at start and every few seconds, by any worker) moves the in-flight messages of workers
  whose liveness key expired back onto their queues, so a SIGKILLed worker's messages are sent by
  another within seconds, not after the broker's visibility timeout (minutes).

The messages stay ordinary Celery messages: a plain Celery worker consuming the same lists works.

A take whose reply never arrives (a Redis restart, a dropped connection) may still have run. Its
number is therefore never given to another take: the next call replays it, and the script, finding
that take's fields already there, answers with the messages it moved instead of taking more.
Without that, the worker would not know of those messages (they would sit in its in-flight hash,
never sent, until it stopped), and a new take under the same field names would overwrite them.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

WORKERS = "pushflow:workers"
ALIVE = "pushflow:alive:"
INFLIGHT = "pushflow:inflight:"

# KEYS: inflight hash, then the queues in priority order. ARGV: max count, take number.
# Public: a test proxy recognises a take on the wire by this script's SHA1 (EVALSHA).
TAKE_SCRIPT = """
local n = tonumber(ARGV[1])
local prefix = '|' .. ARGV[2] .. '.'
local out = {}
-- A replay (the first call's reply was lost): answer with what that call moved.
for i = 2, #KEYS do
  local k = 1
  local m = redis.call('HGET', KEYS[1], KEYS[i] .. prefix .. k)
  while m do
    out[#out + 1] = KEYS[i] .. prefix .. k
    out[#out + 1] = m
    k = k + 1
    m = redis.call('HGET', KEYS[1], KEYS[i] .. prefix .. k)
  end
end
if #out > 0 then return out end
local fields = {}
for i = 2, #KEYS do
  if n <= 0 then break end
  local got = redis.call('RPOP', KEYS[i], n)
  if got then
    for k, m in ipairs(got) do
      local f = KEYS[i] .. prefix .. k
      fields[#fields + 1] = f
      fields[#fields + 1] = m
      out[#out + 1] = f
      out[#out + 1] = m
    end
    n = n - #got
  end
end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
return out
"""

# Puts a worker's in-flight messages back at the consumer end of their queues (they were taken
# first, so they go out first again) and forgets the worker. KEYS: inflight, workers set.
_RESTORE = """
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local queue = string.match(all[i], '^(.*)|')
  redis.call('RPUSH', queue, all[i + 1])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return #all / 2
"""


@dataclass(frozen=True, slots=True)
class Taken:
    field: str  # in-flight hash field: ack by HDEL-ing it
    queue: str
    raw: bytes


def inflight_key(worker_id: str) -> str:
    return INFLIGHT + worker_id


class ReliableQueue:
    def __init__(self, redis: Redis[bytes], worker_id: str, queues: list[str],
                 alive_seconds: float = 15) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.queues = queues
        self.inflight = inflight_key(worker_id)
        self.alive_ms = int(alive_seconds * 1000)
        self._takes = 0
        self._unanswered: tuple[int, list[str]] | None = None  # (take number, its queues)
        self._take = redis.register_script(TAKE_SCRIPT)
        self._restore = redis.register_script(_RESTORE)

    async def register(self) -> None:
        await self.heartbeat()

    async def heartbeat(self) -> None:
        # Re-listing every beat keeps a worker sweepable even if the set was lost or pruned.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(ALIVE + self.worker_id, b"1", px=self.alive_ms)
            pipe.sadd(WORKERS, self.worker_id)
            await pipe.execute()

    async def take(self, n: int, queues: list[str] | None = None) -> list[Taken]:
        """Up to ``n`` messages from ``queues`` (default: all of this consumer's), in order."""
        names = self.queues if queues is None else queues
        if n <= 0 or not names:
            return []
        if self._unanswered is not None:
            number, names = self._unanswered  # the take whose reply was lost, replayed as it was
        else:
            self._takes += 1
            number = self._takes
        self._unanswered = (number, names)
        flat = await self._take(keys=[self.inflight, *names], args=[n, number])
        self._unanswered = None
        out = []
        for i in range(0, len(flat), 2):
            field = flat[i].decode()
            out.append(Taken(field, field.rpartition("|")[0], flat[i + 1]))
        return out

    async def restore_dead(self) -> int:
        """Requeue the in-flight messages of every worker whose liveness key has expired."""
        restored = 0
        for raw_id in await self.redis.smembers(WORKERS):
            worker_id = raw_id.decode()
            if worker_id == self.worker_id or await self.redis.exists(ALIVE + worker_id):
                continue
            restored += int(await self._restore(keys=[inflight_key(worker_id), WORKERS],
                                                args=[worker_id]))
        return restored

    async def restore_own(self) -> int:
        """At a clean stop: hand back what this worker took and did not finish."""
        n = int(await self._restore(keys=[self.inflight, WORKERS], args=[self.worker_id]))
        await self.redis.delete(ALIVE + self.worker_id)
        return n
