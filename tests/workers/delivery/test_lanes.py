"""Lanes are real in a worker (real Redis, a real send worker, the sandbox over HTTP/2): an app's
bulk backlog, rate-limited and parked past the parking bound, neither spends that app's
transactional budget nor stops the worker from taking its transactional work."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from sandbox.testing import SandboxProcess
from tests.workers.conftest import wait_results
from workers.delivery.reliable_queue import INFLIGHT, WORKERS
from workers.delivery.testing import WorkerProcess, enqueue, fcm_token, make_job, wait_for


def held(r: redis.Redis) -> int:
    """Messages the send workers hold (taken, not finished)."""
    return sum(r.hlen(k) for k in r.scan_iter(INFLIGHT + "*"))


def assert_tx_sent_within_a_second(r: redis.Redis, sandbox: SandboxProcess, app_id: int) -> None:
    push = make_job(app_id, "android", fcm_token(), lane="tx")
    enqueued = time.time()
    enqueue(r, [push])
    [result] = wait_results(r, {push["dispatchId"]}, 10).values()
    assert result["status"] == "sent"
    [request] = sandbox.requests("fcm", token=push["token"])
    assert request["time"] - enqueued < 1.0, request["time"] - enqueued


def test_a_tx_push_is_sent_within_a_second_behind_a_parked_bulk_backlog(
        delivery_redis: redis.Redis, new_app: Callable[..., int], sandbox: SandboxProcess,
        start_worker: Callable[..., WorkerProcess]) -> None:
    in_flight, parked, batch = 20, 30, 10
    app_id = new_app(send_rate=2.0)
    delivery_redis.delete(WORKERS)
    worker = start_worker(["fcm.tx", "fcm.bulk"], PUSHFLOW_DELIVERY_MAX_IN_FLIGHT=str(in_flight),
                          PUSHFLOW_DELIVERY_MAX_PARKED=str(parked),
                          PUSHFLOW_DELIVERY_BATCH_SIZE=str(batch))
    wait_for(lambda: delivery_redis.scard(WORKERS) >= 1, 30, what="the worker registered")
    backlog = [make_job(app_id, "android", fcm_token(), lane="bulk") for _ in range(400)]
    enqueue(delivery_redis, backlog)
    # The bucket's burst is spent at once; past that the worker parks bulk jobs up to (and past)
    # the bound, 2 a second trickling out.
    wait_for(lambda: held(delivery_redis) > parked, 30, what="bulk parked past the bound")
    time.sleep(1.0)
    assert delivery_redis.llen("fcm.bulk") > 0  # the backlog is still there

    assert_tx_sent_within_a_second(delivery_redis, sandbox, app_id)
    worker.stop()  # hands its jobs back; the rest of the backlog is not this test's business
    delivery_redis.delete("fcm.bulk")


def test_each_lane_of_an_app_spends_its_own_send_rate(
        delivery_redis: redis.Redis, new_app: Callable[..., int], sandbox: SandboxProcess,
        start_worker: Callable[..., WorkerProcess]) -> None:
    rate, n = 2.0, 40
    bulk_limited = new_app(by_lane={"fcm.tx": 0, "fcm.bulk": rate})  # 0: unlimited
    tx_limited = new_app(by_lane={"fcm.tx": rate, "fcm.bulk": 0})
    delivery_redis.delete(WORKERS)
    worker = start_worker(["fcm.tx", "fcm.bulk"])
    wait_for(lambda: delivery_redis.scard(WORKERS) >= 1, 30, what="the worker registered")
    jobs = {(app, lane): [make_job(app, "android", fcm_token(), lane=lane) for _ in range(n)]
            for app in (bulk_limited, tx_limited) for lane in ("tx", "bulk")}
    started = time.time()
    for batch in jobs.values():
        enqueue(delivery_redis, batch)
    free = jobs[bulk_limited, "tx"] + jobs[tx_limited, "bulk"]
    results = wait_results(delivery_redis, {j["dispatchId"] for j in free}, 30)
    assert all(r["status"] == "sent" for r in results.values())
    elapsed = time.time() - started
    # Meanwhile each limited lane sent no more than its own rate allows (its burst is one send)
    # and far from all: one budget for both lanes would have held the free ones to 2/s (20 s)
    # or let the limited ones through at once.
    for limited in (jobs[bulk_limited, "bulk"], jobs[tx_limited, "tx"]):
        sent = sum(len(sandbox.requests("fcm", token=j["token"])) for j in limited)
        assert sent < n and sent <= 1 + rate * (elapsed + 0.5), (sent, elapsed)
    worker.stop()  # hands its jobs back; the rest is not this test's business
    delivery_redis.delete("fcm.bulk", "fcm.tx")


def test_bulk_holds_its_limit_and_leaves_the_window_to_tx(
        delivery_redis: redis.Redis, new_app: Callable[..., int], sandbox: SandboxProcess,
        start_worker: Callable[..., WorkerProcess]) -> None:
    bulk_limit = 8
    app_id = new_app()
    delivery_redis.delete(WORKERS)
    sandbox.set_latency(300)  # every bulk send stays on the wire a while
    try:
        worker = start_worker(["fcm.tx", "fcm.bulk"], PUSHFLOW_DELIVERY_MAX_IN_FLIGHT="100",
                              PUSHFLOW_DELIVERY_BATCH_SIZE="20",
                              PUSHFLOW_DELIVERY_BULK_MIN_IN_FLIGHT=str(bulk_limit),
                              PUSHFLOW_DELIVERY_BULK_MAX_IN_FLIGHT=str(bulk_limit))
        wait_for(lambda: delivery_redis.scard(WORKERS) >= 1, 30, what="the worker registered")
        started = time.time()
        enqueue(delivery_redis, [make_job(app_id, "android", fcm_token(), lane="bulk")
                                 for _ in range(200)])
        wait_for(lambda: held(delivery_redis) > 0, 30, what="bulk taken")
        time.sleep(1.5)  # a few rounds of sends at the gateway's latency
        # Counted where the sends arrive: each holds its slot for the 300 ms the gateway takes,
        # so no 250 ms holds more arrivals than the limit. (The worker's in-flight hash would
        # also count finished sends whose acknowledgement is not yet flushed.)
        arrivals = sorted(r["time"] for r in sandbox.requests("fcm", since=started))
        crowd = max(sum(1 for u in arrivals if t <= u < t + 0.25) for t in arrivals)
        assert 0 < crowd <= bulk_limit, crowd
        assert delivery_redis.llen("fcm.bulk") > 0  # the rest waits in Redis, for any worker
        assert_tx_sent_within_a_second(delivery_redis, sandbox, app_id)
        worker.stop()
    finally:
        sandbox.set_latency(0)
        delivery_redis.delete("fcm.bulk")
