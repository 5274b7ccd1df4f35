"""Flower shows the sends of the batched consumer: real send workers for both gateways against
the sandbox, a real Flower process, and Flower's HTTP API read the way an operator's tools do.

Flower runs with ``--enable_events=False`` so it does not switch task events on by remote
control: what turns them on is the worker's own ``-E`` (first test) or an explicit
``enable_events`` (second test)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sandbox.testing import SandboxProcess
from shared.jobs import SendJob
from tests.services import free_port, wait_port
from tests.workers.conftest import SEND_QUEUES, WORKER_ENV, wait_results
from workers.celery_app import create_app
from workers.delivery.testing import (
    WorkerProcess,
    apns_token,
    enqueue,
    fcm_token,
    make_job,
    wait_for,
)

SEND_TASKS = {"pushflow.send.apns", "pushflow.send.fcm"}


class Flower:
    def __init__(self, url: str) -> None:
        self.url = url

    def tasks(self) -> dict[str, dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/tasks", timeout=10)
        answer.raise_for_status()
        tasks: dict[str, dict[str, Any]] = answer.json()
        return tasks

    def hears(self, worker: WorkerProcess) -> bool:
        """Flower has received events of this worker (its heartbeats at least)."""
        answer = httpx.get(f"{self.url}/workers", params={"json": 1}, timeout=10)
        return any(w.get("hostname") == hostname(worker) for w in answer.json()["data"])


def hostname(worker: WorkerProcess) -> str:
    return worker.name.replace("%h", socket.gethostname())


@pytest.fixture(scope="module")
def flower(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Flower]:
    port = free_port()
    log = open(tmp_path_factory.mktemp("flower") / "flower.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "flower", f"--port={port}",
         "--address=127.0.0.1", "--persistent=False", "--enable_events=False",
         "--logging=warning"],
        env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}, stdout=log, stderr=log)
    try:
        wait_port(port, 60)
        yield Flower(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture()
def worker(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*extra: str) -> WorkerProcess:
        w = WorkerProcess(SEND_QUEUES, env=WORKER_ENV, log_path=tmp_path / "worker.log",
                          extra_args=["--pool", "solo", *extra]).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def sent_through(client: redis.Redis[bytes], jobs: list[SendJob]) -> None:
    enqueue(client, jobs)
    wait_results(client, {j["dispatchId"] for j in jobs}, timeout=60)


def test_flower_lists_the_sends_of_both_gateways_with_their_states(
        flower: Flower, worker: Callable[..., WorkerProcess], new_app: Callable[..., int],
        delivery_redis: redis.Redis[bytes]) -> None:
    w = worker("-E")
    wait_for(lambda: flower.hears(w), 60, what="Flower hearing the worker")
    app_id = new_app()
    jobs = {
        ("apns", "SUCCESS"): make_job(app_id, "ios", apns_token()),
        ("fcm", "SUCCESS"): make_job(app_id, "android", fcm_token()),
        # Tokens the sandbox refuses (bad_device_token; INVALID_ARGUMENT on the token)...
        ("apns", "FAILURE"): make_job(app_id, "ios", "0bad0bad" + apns_token()[8:]),
        ("fcm", "FAILURE"): make_job(app_id, "android", "invalid-token" + fcm_token()),
        # ... and ones it answers "unavailable" until the attempts run out (3 in tests).
        ("apns", "retried"): make_job(app_id, "ios", "05030503" + apns_token()[8:]),
        ("fcm", "retried"): make_job(app_id, "android", "unavailable" + fcm_token()),
    }
    sent_through(delivery_redis, list(jobs.values()))
    ids = {job["dispatchId"] for job in jobs.values()}  # the intake's task id

    def final_in_flower() -> dict[str, dict[str, Any]]:
        seen = {k: v for k, v in flower.tasks().items() if k in ids}
        done = all(t["state"] in ("SUCCESS", "FAILURE") for t in seen.values())
        return seen if len(seen) == len(ids) and done else {}

    seen = wait_for(final_in_flower, 30, what="the sends in Flower", show=flower.tasks)
    for (gateway, expected), job in jobs.items():
        task = seen[job["dispatchId"]]
        assert task["name"] == f"pushflow.send.{gateway}"
        assert task["worker"] == hostname(w)
        assert task["received"] is not None
        if expected == "retried":
            assert task["state"] == "FAILURE", task
            assert task["retried"] is not None and task["retries"] == 2, task
            assert "retries_exhausted" in task["exception"], task
        else:
            assert task["state"] == expected, task
            assert task["started"] is not None, task
    assert seen[jobs["apns", "FAILURE"]["dispatchId"]]["exception"] == \
        "invalid_token: 400 BadDeviceToken"


def test_without_task_events_no_send_is_announced_until_they_are_enabled(
        flower: Flower, worker: Callable[..., WorkerProcess], new_app: Callable[..., int],
        delivery_redis: redis.Redis[bytes]) -> None:
    w = worker()  # no -E
    wait_for(lambda: flower.hears(w), 60, what="Flower hearing the worker")
    app_id = new_app()
    quiet = [make_job(app_id, "ios", apns_token()), make_job(app_id, "android", fcm_token())]
    sent_through(delivery_redis, quiet)
    replies = create_app().control.enable_events(destination=[hostname(w)], reply=True, timeout=5)
    assert replies, "the worker did not answer enable_events"
    announced = [make_job(app_id, "ios", apns_token()), make_job(app_id, "android", fcm_token())]
    sent_through(delivery_redis, announced)
    # Events go out in order: once the later sends are in Flower, the earlier ones would be too.
    wait_for(lambda: {j["dispatchId"] for j in announced} <= set(flower.tasks()), 30,
             what="the sends after enable_events in Flower")
    tasks = flower.tasks()
    assert not {j["dispatchId"] for j in quiet} & set(tasks)
    assert {tasks[j["dispatchId"]]["state"] for j in announced} == {"SUCCESS"}
    assert {t["name"] for t in tasks.values()} <= SEND_TASKS | {"pushflow.dlr.record"}
