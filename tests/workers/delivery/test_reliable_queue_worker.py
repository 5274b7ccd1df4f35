"""End to end: a real send worker whose take reply is lost to a Redis restart sends every job.
Before, the jobs of that take sat unknown in its in-flight hash while the next take wrote over
them: never sent, no outcome, ``queued`` for good. Real redis-server (AOF on), a proxy that
swallows the one reply, real HTTP/2 to the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from sandbox.testing import SandboxProcess
from tests.services import RedisServer, ReplyDropper
from workers.delivery.reliable_queue import WORKERS
from workers.delivery.testing import (
    WorkerProcess,
    apns_token,
    dlr_results,
    enqueue,
    make_job,
    wait_for,
)


def test_a_take_lost_to_a_redis_restart_is_still_sent(
    new_app: Callable[..., int], sandbox: SandboxProcess, tmp_path: Path,
) -> None:
    app_id = new_app()
    before = [make_job(app_id, "ios", apns_token()) for _ in range(20)]
    after = [make_job(app_id, "ios", apns_token()) for _ in range(20)]
    ids = {j["dispatchId"] for j in before + after}
    with RedisServer(tmp_path, appendonly=True) as server, \
            ReplyDropper(server.port) as proxy, \
            WorkerProcess(["apns.tx"], env={"PUSHFLOW_REDIS_URL": proxy.url,
                                            "PUSHFLOW_LOG_JSON": "false"},
                          log_path=tmp_path / "worker.log"):
        client = redis.Redis.from_url(server.url)
        wait_for(lambda: client.scard(WORKERS), 60, what="the worker consuming")
        proxy.arm(before[0]["dispatchId"].encode())  # the take reply carrying it is lost
        enqueue(client, before)
        wait_for(proxy.dropped.is_set, 30, what="the take's reply swallowed")
        client.close()
        server.restart()
        client = redis.Redis.from_url(server.url)
        enqueue(client, after)  # taken next: before, into the same in-flight fields

        def outcomes() -> set[str]:
            return {r["dispatchId"] for r in dlr_results(client)} & ids

        wait_for(lambda: outcomes() == ids, 60, what="an outcome for every job",
                 show=lambda: len(ids - outcomes()))
        assert all(r["status"] == "sent" for r in dlr_results(client) if r["dispatchId"] in ids)
        client.close()
