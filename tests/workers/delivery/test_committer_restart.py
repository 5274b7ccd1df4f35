"""A flush whose reply is lost (Redis restarted, or the connection dropped, after the transaction
ran) is applied once: its replay publishes no outcome and queues no retry a second time, and what
came after it is still committed. Real redis-server with AOF on, as in production."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from shared import queues
from shared.jobs import SendResult
from tests.services import RedisServer, ReplyDropper
from workers.delivery.committer import Committer, guard_key
from workers.delivery.reliable_queue import inflight_key
from workers.delivery.testing import dlr_results

QUEUE = "apns.tx"
INFLIGHT = inflight_key("w-commit")


def _result(n: int) -> SendResult:
    return SendResult(dispatchId=f"d-{n}", messageId=f"m-{n}", appId=1, token=f"t-{n}",
                      platform="ios", status="sent", attempts=1, at=time.time(),
                      requestId=f"r-{n}")


@pytest.mark.parametrize("restart", [True, False], ids=["redis-restart", "lost-connection"])
def test_a_flush_whose_reply_is_lost_is_applied_once(tmp_path: Path, restart: bool) -> None:
    async def main(server: RedisServer, proxy: ReplyDropper) -> None:
        direct = redis.Redis.from_url(server.url)
        direct.hset(INFLIGHT, mapping={f"{QUEUE}|1.{k}": f"job-{k}" for k in range(1, 5)})
        committer = Committer(Redis.from_url(proxy.url), INFLIGHT, guard_ttl_seconds=60,
                              flush_seconds=3600)
        loop = asyncio.get_running_loop()
        committer.final(_result(1), f"{QUEUE}|1.1", guard=True)
        await committer.flush()  # opens the connection (and loads what it needs) before arming

        lost, after = loop.create_future(), loop.create_future()
        committer.final(_result(2), f"{QUEUE}|1.2", guard=True, waiter=lost)
        committer.requeue(QUEUE, b"retry-3", f"{QUEUE}|1.3", waiter=lost)
        for _ in range(100):  # d-2's guard goes ahead of its flush, on its own
            if direct.exists(guard_key("d-2")):
                break
            await asyncio.sleep(0.01)
        proxy.arm(b"")  # the next reply, the flush's, never reaches the worker
        await committer.flush()
        assert proxy.dropped.is_set()
        assert not lost.done()
        # It did run: the outcome is published, the retry queued, both messages acked.
        assert [r["dispatchId"] for r in dlr_results(direct)] == ["d-1", "d-2"]
        assert direct.lrange(QUEUE, 0, -1) == [b"retry-3"]
        assert direct.hkeys(INFLIGHT) == [f"{QUEUE}|1.4".encode()]
        if restart:
            direct.close()
            server.restart()  # clean shutdown: the AOF holds the transaction
            direct = redis.Redis.from_url(server.url)

        committer.final(_result(4), f"{QUEUE}|1.4", guard=True, waiter=after)
        for _ in range(20):  # the client's connection may have died with the old server
            await committer.flush()
            if after.done():
                break
            await asyncio.sleep(0.1)
        assert lost.done() and after.done()
        assert [r["dispatchId"] for r in dlr_results(direct)] == ["d-1", "d-2", "d-4"]
        assert direct.lrange(QUEUE, 0, -1) == [b"retry-3"]
        assert direct.hlen(INFLIGHT) == 0
        assert all(direct.exists(guard_key(f"d-{n}")) for n in (1, 2, 4))
        assert direct.llen(queues.DLR) == 3
        await committer.close()
        await committer.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
        direct.close()

    with RedisServer(tmp_path, appendonly=True) as server, ReplyDropper(server.port) as proxy:
        asyncio.run(main(server, proxy))
