"""Fixtures for the intake API: the real app in-process (lifespan run, real PostgreSQL and
Redis of the session) behind an httpx client, and a real ``pushflow api`` subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis

from producer.app import create_app
from shared import queues
from shared.settings import get_settings
from shared.taskmessage import decode_message
from tests.services import free_port, wait_port


def ios_token() -> str:
    return secrets.token_hex(32)


def android_token() -> str:
    return secrets.token_hex(6) + ":APA91b" + secrets.token_urlsafe(100)[:130]


@pytest.fixture(scope="session")
async def api(pushflow_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process, lifespan (pool, sweeper) running."""
    get_settings.cache_clear()
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def drain(client: redis.Redis, queue: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """Pop every message of a queue: (task name, args, headers), oldest first."""
    out = []
    while (raw := client.rpop(queue)) is not None:
        task, args, _kwargs, headers = decode_message(raw)
        out.append((task, args, headers))
    return out


@pytest.fixture()
def clean_queues(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    redis_client.delete(*queues.SEND_QUEUES)
    yield redis_client


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
             ) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def api_process(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real ``pushflow api`` server on a free port; yields (base URL, process)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli.main", "api", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, timeout=20)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
