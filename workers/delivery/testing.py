"""Helpers for tests and benchmarks of delivery: jobs built like the intake builds them, send
workers as real ``celery -A workers worker`` subprocesses, and reading the ``dlr`` queue."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis

from shared import queues
from shared.ids import new_id
from shared.jobs import MessageContent, SendJob, SendResult
from shared.taskmessage import build_message, decode_message

T = TypeVar("T")


def apns_token() -> str:
    return secrets.token_hex(32)


def fcm_token() -> str:
    return secrets.token_hex(8) + ":APA91b" + secrets.token_urlsafe(120)


def make_job(app_id: int, platform: str, token: str, *, lane: str = "tx",
             ttl: int | None = None, **message: Any) -> SendJob:
    content: MessageContent = {"title": "Hello", "content": "Your code is 123456"}
    content.update(message)  # type: ignore[typeddict-item]
    return {
        "dispatchId": new_id(), "messageId": new_id(), "appId": app_id, "token": token,
        "platform": "ios" if platform == "ios" else "android",
        "lane": "bulk" if lane == "bulk" else "tx",
        "message": content, "ttl": ttl, "attempt": 1, "requestId": os.urandom(5).hex(),
        "enqueuedAt": time.time(),
    }


def enqueue(client: redis.Redis[bytes], jobs: Iterable[SendJob], chunk: int = 1000) -> int:
    """Publish jobs exactly as the intake does: protocol-2 messages, one LPUSH per queue/chunk."""
    grouped: dict[str, list[bytes]] = {}
    for job in jobs:
        queue = queues.send_queue(job["platform"], job["lane"])
        grouped.setdefault(queue, []).append(
            build_message(queues.send_task(job["platform"]), queue, [job],
                          task_id=job["dispatchId"]))
    n = 0
    with client.pipeline(transaction=True) as pipe:  # all lanes appear at once
        for queue, messages in grouped.items():
            for i in range(0, len(messages), chunk):
                pipe.lpush(queue, *messages[i:i + chunk])
                n += len(messages[i:i + chunk])
        pipe.execute()
    return n


def dlr_results(client: redis.Redis[bytes]) -> list[SendResult]:
    """Every SendResult published to ``dlr`` so far (oldest first), without consuming them."""
    out: list[SendResult] = []
    for raw in reversed(client.lrange(queues.DLR, 0, -1)):
        task, args, _kwargs, _headers = decode_message(raw)
        assert task == queues.TASK_RECORD_RESULT, task
        out.extend(args[0])
    return out


def wait_for(check: Callable[[], T], timeout: float = 30.0, what: str = "condition",
             show: Callable[[], object] | None = None, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy (the one poller of the tests and
    benches); fail with ``what`` and, to diagnose, what ``show`` returns, after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; {show()!r}" if show is not None else ""
            raise TimeoutError(f"{what} not reached in {timeout}s (last: {value!r}){seen}")
        time.sleep(interval)


class WorkerProcess:
    """``celery -A workers worker -Q <queues> --pool solo`` as a subprocess."""

    def __init__(self, queue_names: list[str], env: dict[str, str] | None = None,
                 log_path: Path | None = None, extra_args: list[str] | None = None) -> None:
        self.queue_names = queue_names
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.extra_args = extra_args or ["--pool", "solo"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = f"w{uuid.uuid4().hex[:6]}@%h"

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q",
             ",".join(self.queue_names), "-n", self.name, "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", *self.extra_args],
            env=self.env, stdout=log, stderr=log, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, like a machine losing power."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
