"""The send window stays full: N sends on the wire, the next ready one started the moment one
finishes, never more than N; the consumer takes ahead of the window (a batch at most) so sends
do not wait for a take. Real Redis, committer, in-flight hash and app credentials (PostgreSQL);
the gateway is a stand-in written to the contract (``workers.delivery.gateway.Gateway``) that
answers after a fixed latency and counts the sends on its wire."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import redis
from redis.asyncio import Redis

from shared.jobs import SendJob
from shared.settings import Settings, get_settings
from tests.workers.delivery.stubs import OneConfig, StubGateway
from workers.delivery.appconfig import AppConfig
from workers.delivery.committer import Committer
from workers.delivery.engine import Engine, Work
from workers.delivery.metrics import default_metrics
from workers.delivery.outcomes import Accepted, Outcome
from workers.delivery.reliable_queue import inflight_key
from workers.delivery.runtime import DeliveryRuntime
from workers.delivery.testing import apns_token, enqueue, make_job, wait_for


class Latency(StubGateway):
    """Answers every send after ``seconds``; records how many were on its wire at each start."""

    name = "apns"

    def __init__(self, seconds: float, release: asyncio.Event | None = None,
                 gated: bool = False, spread: int = 1) -> None:
        self.seconds = seconds
        # Send n waits seconds * (1 + (n % spread) / spread): sends started together finish in
        # different loop turns, as a gateway's answers do (a fixed latency answers a whole
        # window in one turn, and its sends all restart in the next).
        self.spread = spread
        self.calls = 0
        self.release = release
        self.gated = gated  # each send waits for its own gate, opened by the test in order
        self.gates: list[asyncio.Event] = []
        self.on_wire = 0
        self.at_start: list[int] = []
        self.sent: list[str] = []
        self._lock = threading.Lock()  # read from the test's thread

    async def send(self, config: AppConfig, job: SendJob) -> Outcome:
        with self._lock:
            self.on_wire += 1
            self.at_start.append(self.on_wire)
        try:
            if self.gated:
                gate = asyncio.Event()
                self.gates.append(gate)
                await gate.wait()
            elif self.release is not None:
                await self.release.wait()
            else:  # the gateway's latency, not a retry delay
                self.calls += 1
                await asyncio.sleep(self.seconds * (1 + self.calls % self.spread / self.spread))
            self.sent.append(job["dispatchId"])
            return Accepted(job["dispatchId"])
        finally:
            with self._lock:
                self.on_wire -= 1


def engine_for(settings: Settings, redis_client: Redis[bytes], gateway: Latency,
               window: int) -> tuple[Engine, Committer]:
    committer = Committer(redis_client, None, guard_ttl_seconds=60)
    engine = Engine(settings, redis_client, gateway, committer, OneConfig(),  # type: ignore[arg-type]
                    default_metrics(), visibility_timeout=900, window=window)
    return engine, committer


def test_the_engine_keeps_exactly_its_window_of_sends_on_the_wire(
        pushflow_env: dict[str, str]) -> None:
    async def main() -> None:
        settings = get_settings()
        client = Redis.from_url(settings.redis_url)
        gateway = Latency(0, gated=True)
        engine, committer = engine_for(settings, client, gateway, window=5)
        loop = asyncio.get_running_loop()
        works = [Work(make_job(1, "ios", apns_token()), "apns.tx", "pushflow.send.apns", None,
                      loop.create_future()) for _ in range(40)]
        engine.submit(works)  # one batch, far larger than the window
        for opened in range(40):  # answer the sends one at a time, oldest first
            started = min(40, opened + 5)
            await wait_until(lambda: len(gateway.gates) == started)  # noqa: B023 (awaited here)
            gateway.gates[opened].set()
        await asyncio.wait_for(asyncio.gather(*(w.waiter for w in works if w.waiter)), 10)
        assert sorted(gateway.sent) == sorted(w.job["dispatchId"] for w in works)  # each once
        assert max(gateway.at_start) == 5  # never more than the window
        # Every send after the first five started while the four others were still out: the
        # slot a finished send left was taken at once, not after the batch.
        assert gateway.at_start[5:] == [5] * 35, gateway.at_start
        assert engine.active == 0 and engine.window.sending == 0
        await committer.close()
        await client.aclose()

    asyncio.run(main())


def test_once_stopping_the_window_starts_no_more_sends(pushflow_env: dict[str, str]) -> None:
    async def main() -> None:
        settings = get_settings()
        client = Redis.from_url(settings.redis_url)
        gateway = Latency(0, release=asyncio.Event())
        engine, committer = engine_for(settings, client, gateway, window=2)
        engine.submit([Work(make_job(1, "ios", apns_token()), "apns.tx", "pushflow.send.apns")
                       for _ in range(6)])
        await wait_until(lambda: gateway.on_wire == 2)
        engine.accepting = False  # a stop: what is still ready stays in the in-flight hash
        assert gateway.release is not None
        gateway.release.set()
        await engine.drain(5)
        assert len(gateway.sent) == 2 and engine.window.waiting == 4
        await committer.close()
        await client.aclose()

    asyncio.run(main())


async def wait_until(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_the_consumer_takes_ahead_of_the_window_and_keeps_it_full(
        delivery_redis: redis.Redis, new_app: Callable[..., int]) -> None:
    in_flight, n = 10, 200
    settings = get_settings()
    app_id = new_app()
    gateway = Latency(0.1, spread=in_flight)
    runtime = DeliveryRuntime(settings, lambda s, r: gateway, "apns", 900,
                              max_in_flight=in_flight)
    held = []
    try:
        runtime.start_consuming(["apns.tx"])
        jobs = [make_job(app_id, "ios", apns_token()) for _ in range(n)]
        enqueue(delivery_redis, jobs)

        def sample() -> bool:
            held.append(delivery_redis.hlen(inflight_key(runtime.worker_id)))
            return len(gateway.sent) >= n

        wait_for(sample, 60, interval=0.01, what="every job sent")
    finally:
        runtime.stop()
    assert sorted(gateway.sent) == sorted(j["dispatchId"] for j in jobs)
    assert max(gateway.at_start) == in_flight
    # Taken ahead, within a bound: the window and one batch in this worker's hash (plus sends
    # finished whose acks wait for the committer's next flush), and enough ready that (nearly)
    # every send started with the window full. A consumer waiting for a whole window to finish,
    # or a take between two sends, would leave it part empty.
    assert runtime.max_taken == in_flight + runtime.batch_size
    assert in_flight < max(held) <= runtime.max_taken + in_flight, max(held)
    steady = gateway.at_start[in_flight:]
    assert steady.count(in_flight) >= 0.8 * len(steady), gateway.at_start
