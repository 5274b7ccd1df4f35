"""A real Celery worker with workers.observability: /metrics, /healthz and /readyz on its
metrics port, JSON logs carrying the job's requestId, device tokens masked."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import redis

from shared.taskmessage import build_message
from tests.observability.log_task import TASK
from tests.services import free_port
from workers.delivery.testing import wait_for

QUEUE = "pushflow.test.observability"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def test_worker_serves_metrics_and_logs_the_request_id(
    pushflow_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path,
) -> None:
    port = free_port()
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "PUSHFLOW_METRICS_PORT": str(port), "PUSHFLOW_PROCESS_TYPE": "dlr",
           "PUSHFLOW_LOG_JSON": "true", "PUSHFLOW_LOG_LEVEL": "INFO"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", QUEUE,
            "--pool", "solo", "--include", "tests.observability.log_task",
            "-n", f"obs-{port}@%h", "--without-mingle", "--without-gossip"]
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 30, "/healthz")
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert {c["name"] for c in json.loads(body)["checks"]} == {
            "redis", "postgres", "migrations"}  # a dlr process needs PostgreSQL too
        request_id = secrets.token_hex(5)
        token = secrets.token_hex(32)
        job = {"requestId": request_id, "token": token}
        redis_client.lpush(QUEUE, build_message(TASK, QUEUE, [job]))

        def logged() -> dict[str, object] | None:
            for line in log_path.read_text(errors="replace").splitlines():
                if line.startswith("{") and "handled job" in line:
                    return dict(json.loads(line))
            return None

        record = wait_for(logged, 30, "the task's log line")
        assert record["uniqId"] == request_id
        assert record["process"] == "dlr"
        assert token not in log_path.read_text()
        assert f"{token[:6]}…{token[-4:]}" in str(record["msg"])
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert 'pushflow_queue_depth{queue="apns.tx"}' in metrics
        assert 'pushflow_dispatches_total{gateway="fcm",outcome="sent"}' in metrics
    finally:
        worker.terminate()
        worker.wait(20)
