"""The committer against a real Redis: every outcome, retry and ack handed to it is written once,
whether it came before a flush, during one, or in a batch larger than one script call's unpack;
an accepted send's guard goes ahead of its flush."""

from __future__ import annotations

import asyncio
import time

import redis
from redis.asyncio import Redis

from shared.jobs import SendResult
from workers.delivery.committer import Committer, guard_key
from workers.delivery.testing import dlr_results


def _result(n: int) -> SendResult:
    return SendResult(dispatchId=f"during-{n}", messageId=f"m-{n}", appId=1, token=f"t-{n}",
                      platform="ios", status="sent", attempts=1, at=time.time(),
                      requestId=f"r-{n}")


def test_what_arrives_during_a_flush_is_committed_by_the_next(
    redis_client: redis.Redis[bytes], pushflow_env: dict[str, str],
) -> None:
    async def main() -> None:
        inflight = "pushflow:inflight:w-during"
        redis_client.hset(inflight, mapping={f"apns.tx|1.{k}": b"job" for k in range(3)})
        committer = Committer(Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"]), inflight,
                              guard_ttl_seconds=60, flush_seconds=0.01)
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in range(3)]
        committer.final(_result(0), "apns.tx|1.0", guard=True, waiter=waiters[0])
        flushing = asyncio.create_task(committer.flush())
        await asyncio.sleep(0)  # the flush has taken its batch and waits for Redis's answer
        committer.final(_result(1), "apns.tx|1.1", guard=False, waiter=waiters[1])
        committer.final(_result(2), "apns.tx|1.2", guard=True, waiter=waiters[2])
        assert not waiters[0].done()
        await flushing
        assert waiters[0].done() and not waiters[1].done()
        await asyncio.wait_for(asyncio.gather(*waiters), 2)  # by the flush timer alone
        ours = [r["dispatchId"] for r in dlr_results(redis_client)
                if r["dispatchId"].startswith("during-")]  # the session's Redis is shared
        assert ours == ["during-0", "during-1", "during-2"]
        assert redis_client.hlen(inflight) == 0
        assert [redis_client.exists(guard_key(f"during-{k}")) for k in range(3)] == [1, 0, 1]
        await committer.close()
        await committer.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    asyncio.run(main())


def test_a_flush_of_thousands_is_written_whole(
    redis_client: redis.Redis[bytes], pushflow_env: dict[str, str],
) -> None:
    async def main() -> None:
        inflight = "pushflow:inflight:w-large"
        n = 2500  # above the script's chunk of 1,000 values per command
        redis_client.hset(inflight, mapping={f"fcm.bulk|1.{k}": b"job" for k in range(n)})
        committer = Committer(Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"]), inflight,
                              guard_ttl_seconds=60, flush_seconds=3600, max_batch=10 * n)
        for k in range(n):
            committer.requeue("fcm.bulk.test", f"retry-{k}".encode(), f"fcm.bulk|1.{k}")
        committer.requeue("fcm.tx.test", b"retry-tx", None)
        await committer.flush()
        # LPUSH order kept: the first requeued is the first a consumer (RPOP) takes.
        assert redis_client.lrange("fcm.bulk.test", 0, -1) == [
            f"retry-{k}".encode() for k in reversed(range(n))]
        assert redis_client.lrange("fcm.tx.test", 0, -1) == [b"retry-tx"]
        assert redis_client.hlen(inflight) == 0
        await committer.close()
        await committer.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    asyncio.run(main())


def test_a_guard_is_written_before_its_flush(
    redis_client: redis.Redis[bytes], pushflow_env: dict[str, str],
) -> None:
    """The time from a gateway's answer to its guard is the window in which a killed worker
    sends a push twice: the guard must not wait for the flush timer."""
    async def main() -> None:
        inflight = "pushflow:inflight:w-early"
        redis_client.hset(inflight, mapping={f"apns.tx|1.{k}": b"job" for k in range(3)})
        committer = Committer(Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"]), inflight,
                              guard_ttl_seconds=60, flush_seconds=3600)
        for k in range(3):
            result = SendResult(**{**_result(k), "dispatchId": f"early-{k}"})
            committer.final(result, f"apns.tx|1.{k}", guard=k != 1)
        await asyncio.sleep(0.2)  # far less than the flush timer
        assert [redis_client.exists(guard_key(f"early-{k}")) for k in range(3)] == [1, 0, 1]
        assert redis_client.ttl(guard_key("early-0")) > 50
        assert redis_client.hlen(inflight) == 3  # the acks and outcomes wait for the flush
        assert not [r for r in dlr_results(redis_client)
                    if r["dispatchId"].startswith("early-")]
        await committer.close()
        assert redis_client.hlen(inflight) == 0
        await committer.redis.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5

    asyncio.run(main())
