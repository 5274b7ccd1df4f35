"""What the pacer reads from Redis before each step: how busy each gateway's transactional lane
is (how many tx tasks wait, and how long the oldest has waited), and how many bulk tasks are on
their way (waiting in the queue, or taken by a send worker and not finished:
``workers.delivery.reliable_queue``'s in-flight hashes).

The slow-down is a factor per gateway (1 = the campaign's full rate): halved while the tx lane
is congested, raised again step by step once it is not -- so a campaign gives way within a
fraction of a second when transactional pushes queue up, and recovers on its own after.
A gateway answering a campaign's send with 429 (``domain.campaigns.throttle``, reported by the
send workers) halves it too, and it only recovers once that gateway has been quiet for
``THROTTLE_QUIET_SECONDS``: a quota is not back the moment the queue is short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from domain.campaigns import throttle
from shared.queues import Gateway, send_queue
from shared.taskmessage import decode_message
from workers.delivery.reliable_queue import INFLIGHT, WORKERS

TX_DEPTH_LIMIT = 50  # tx tasks waiting: more means the workers are behind
TX_AGE_LIMIT_SECONDS = 0.25  # the oldest waiting tx task's age
MIN_FACTOR = 0.05
RECOVER_STEP = 0.1
ADJUST_EVERY_SECONDS = 0.5
THROTTLE_QUIET_SECONDS = 2.0  # since the gateway's last 429, before the factor goes up again


@dataclass(frozen=True)
class LaneLoad:
    tx_depth: int
    tx_age: float  # seconds the oldest waiting tx task has waited (0: none waits)
    bulk_depth: int  # waiting in the bulk queue, plus taken by the gateway's workers
    throttled_at: float = 0.0  # unix time of the gateway's latest 429 to a campaign (0: none)

    @property
    def congested(self) -> bool:
        return self.tx_depth > TX_DEPTH_LIMIT or self.tx_age > TX_AGE_LIMIT_SECONDS


_PLATFORM = {"apns": "ios", "fcm": "android"}


async def lane_load(redis: Redis[bytes], gateway: Gateway) -> LaneLoad:
    platform = _PLATFORM[gateway]
    tx, bulk = send_queue(platform, "tx"), send_queue(platform, "bulk")
    workers = await redis.smembers(WORKERS)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.llen(tx)
        pipe.lindex(tx, -1)  # the oldest (tasks are pushed on the left)
        pipe.llen(bulk)
        pipe.get(throttle.throttled_key(gateway))
        for worker in sorted(workers):
            # Taken and not finished (both lanes: a worker's hash does not say which lane
            # without reading every message; the tx share is small, and counting it errs on
            # the side of the transactional pushes).
            pipe.hlen(INFLIGHT + worker.decode())
        tx_depth, oldest, bulk_depth, throttled, *held = await pipe.execute()
    bulk_depth += sum(held)
    age = 0.0
    if oldest is not None:
        try:
            _task, args, _kw, _headers = decode_message(oldest)
            age = max(0.0, time.time() - float(args[0]["enqueuedAt"]))
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            age = 0.0  # not a send job of ours: says nothing about latency
    return LaneLoad(int(tx_depth), age, int(bulk_depth), throttle.parse_throttled_at(throttled))


@dataclass
class SlowDown:
    """The factor of one gateway, adjusted at most every ``ADJUST_EVERY_SECONDS`` (``now``:
    monotonic; ``wall``: unix time, the clock the workers report 429s in)."""

    factor: float = 1.0
    adjusted_at: float = 0.0
    throttled_at: float = 0.0  # the latest 429 already acted on

    def update(self, load: LaneLoad, now: float, wall: float) -> float:
        if now - self.adjusted_at >= ADJUST_EVERY_SECONDS:
            self.adjusted_at = now
            # News: later than the last one acted on, and recent (a pacer that starts reads
            # whatever 429 is still stored; an old one is no reason to slow down now).
            new_429 = (load.throttled_at > self.throttled_at
                       and wall - load.throttled_at < THROTTLE_QUIET_SECONDS)
            self.throttled_at = max(self.throttled_at, load.throttled_at)
            if load.congested or new_429:
                self.factor = max(MIN_FACTOR, self.factor / 2)
            elif wall - self.throttled_at >= THROTTLE_QUIET_SECONDS:
                self.factor = min(1.0, self.factor + RECOVER_STEP)
        return self.factor


@dataclass
class Drain:
    """How fast a gateway's bulk lane finishes its tasks lately (tasks/s), from what is on its
    way at each tick and what the pacer fed it in between: the pacer keeps about a second of
    that on its way, whatever a campaign's nominal rate."""

    outstanding: int = -1
    at: float = 0.0
    fed: int = 0
    rate: float = 0.0

    def update(self, outstanding: int, now: float) -> float:
        if self.outstanding >= 0 and now > self.at:
            done = max(0, self.outstanding + self.fed - outstanding)
            self.rate = 0.7 * self.rate + 0.3 * done / (now - self.at)
        self.outstanding, self.at, self.fed = outstanding, now, 0
        return self.rate
