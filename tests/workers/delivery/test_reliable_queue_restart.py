"""A take whose reply is lost (Redis restarted, or the connection dropped, after the script ran)
loses no message: the take is replayed and answers with what it moved, and no later take writes
over its in-flight fields. Real redis-server with AOF on, as in production."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.services import RedisServer, ReplyDropper
from workers.delivery.reliable_queue import ReliableQueue, inflight_key

QUEUE = "apns.tx"


@pytest.mark.parametrize("restart", [True, False], ids=["redis-restart", "lost-connection"])
def test_a_take_whose_reply_is_lost_loses_nothing(tmp_path: Path, restart: bool) -> None:
    async def main(server: RedisServer, proxy: ReplyDropper) -> None:
        direct = Redis.from_url(server.url)
        through_proxy = Redis.from_url(proxy.url)
        queue = ReliableQueue(through_proxy, "w-restart", [QUEUE])
        messages = [b"job-1", b"job-2", b"job-3", b"job-4"]
        await direct.lpush(QUEUE, *messages)  # LPUSH/RPOP: job-1 is taken first
        got = [t.raw for t in await queue.take(1)]

        proxy.arm(b"job-2")  # the script runs; its reply never reaches the worker
        with contextlib.suppress(RedisConnectionError):
            got += [t.raw for t in await queue.take(1)]
        assert proxy.dropped.is_set()
        assert await direct.hlen(inflight_key("w-restart")) == 2  # job-2 did move
        if restart:
            await direct.aclose()
            server.restart()  # clean shutdown: the AOF holds the move
            direct = Redis.from_url(server.url)

        for _ in range(5):
            try:
                got += [t.raw for t in await queue.take(1)]
            except RedisConnectionError:
                await asyncio.sleep(0.1)  # the pool's connection died with the old server
        # Every job was handed to the worker once, and each is still in its in-flight hash
        # (under a field of its own) until acked.
        assert sorted(got) == messages
        held = await direct.hgetall(inflight_key("w-restart"))
        assert sorted(held.values()) == messages
        assert await direct.llen(QUEUE) == 0
        await through_proxy.aclose()
        await direct.aclose()

    with RedisServer(tmp_path, appendonly=True) as server, ReplyDropper(server.port) as proxy:
        asyncio.run(main(server, proxy))


def test_a_stopping_worker_hands_back_a_take_it_never_heard_of(tmp_path: Path) -> None:
    async def main(server: RedisServer, proxy: ReplyDropper) -> None:
        direct = Redis.from_url(server.url)
        queue = ReliableQueue(Redis.from_url(proxy.url), "w-stop", [QUEUE])
        await direct.lpush(QUEUE, b"job-1")
        proxy.arm(b"job-1")
        with pytest.raises(RedisConnectionError):
            await queue.take(1)
        assert await queue.restore_own() == 1
        assert await direct.lrange(QUEUE, 0, -1) == [b"job-1"]
        await direct.aclose()

    with RedisServer(tmp_path, appendonly=True) as server, ReplyDropper(server.port) as proxy:
        asyncio.run(main(server, proxy))
