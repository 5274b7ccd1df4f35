"""The engine keeps its window moving: each send is settled the moment its gateway answers, so
one send that takes long holds its own slot and nothing else, not the outcomes of the jobs that
came in the same batch. Real Redis and committer; the gateway is a stand-in written to the
contract (``workers.delivery.gateway.Gateway``), as a new gateway module would be."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from shared.jobs import SendJob
from shared.settings import get_settings
from tests.workers.delivery.stubs import OneConfig, StubGateway
from workers.delivery.appconfig import AppConfig
from workers.delivery.committer import Committer
from workers.delivery.engine import Engine, Work
from workers.delivery.metrics import default_metrics
from workers.delivery.outcomes import Accepted, Outcome
from workers.delivery.testing import apns_token, make_job


class SlowForOne(StubGateway):
    """Answers at once, except for ``slow_token``, answered when ``release`` is set."""

    def __init__(self, slow_token: str) -> None:
        self.slow_token = slow_token
        self.release = asyncio.Event()

    async def send(self, config: AppConfig, job: SendJob) -> Outcome:
        if job["token"] == self.slow_token:
            await self.release.wait()
        return Accepted(job["dispatchId"])


def test_a_slow_send_does_not_hold_up_the_rest_of_its_batch(pushflow_env: dict[str, str]) -> None:
    async def main() -> None:
        settings = get_settings()
        redis = Redis.from_url(settings.redis_url)
        jobs = [make_job(1, "ios", apns_token()) for _ in range(31)]
        gateway = SlowForOne(jobs[0]["token"])
        committer = Committer(redis, None, guard_ttl_seconds=60)
        engine = Engine(settings, redis, gateway, committer, OneConfig(),  # type: ignore[arg-type]
                        default_metrics(), visibility_timeout=900)
        loop = asyncio.get_running_loop()
        works = [Work(job, "stub.tx", "pushflow.send.stub", None, loop.create_future())
                 for job in jobs]
        engine.submit(works)  # one batch, one app
        slow, *fast = works
        await asyncio.wait_for(asyncio.gather(*(w.waiter for w in fast if w.waiter)), 5)
        assert slow.waiter is not None and not slow.waiter.done()
        assert engine.active == 1  # only the slow send holds a slot
        gateway.release.set()
        await asyncio.wait_for(slow.waiter, 5)
        assert engine.active == 0
        await committer.close()
        await redis.aclose()

    asyncio.run(main())
