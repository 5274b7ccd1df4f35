"""Fixtures for the intake API: the real app in-process (lifespan run, real PostgreSQL and
Redis of the session) behind an httpx client, and a real ``pushflow api`` subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from domain.keys import store as apps
from producer.app import create_app
from producer.state import AppState
from shared import queues
from shared.settings import get_settings
from shared.taskmessage import decode_message
from shared.tokens import PLATFORMS, Platform
from tests.services import free_port, wait_port


def ios_token() -> str:
    return secrets.token_hex(32)


def android_token() -> str:
    return secrets.token_hex(6) + ":APA91b" + secrets.token_urlsafe(100)[:130]


# The in-process app's own sweeper stays idle (it sweeps once at start-up): tests call
# ``sweep_once`` when they want the outbox swept, and only the subprocess of the crash test
# sweeps on its own.
IN_PROCESS_SETTINGS = {"outbox_sweep_interval_seconds": 3600.0, "outbox_sweep_after_seconds": 0.3}


@pytest.fixture()
def make_app(make_app: Any) -> Any:
    """The session's ``make_app``, with APNs and FCM credentials unless told otherwise: the
    intake refuses tokens of a platform the app has none for (``PLATFORM_NOT_CONFIGURED``)."""

    def factory(name: str = "test", scopes: tuple[str, ...] = apps.SCOPES,
                platforms: tuple[Platform, ...] = PLATFORMS) -> Any:
        return make_app(name, scopes, platforms)

    return factory


@pytest.fixture(scope="session")
async def intake_app(pushflow_env: dict[str, str]) -> AsyncIterator[Starlette]:
    """The real app in-process, lifespan (pool, Redis, writer, sweeper) running."""
    get_settings.cache_clear()
    app = create_app(get_settings().model_copy(update=IN_PROCESS_SETTINGS))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def api(intake_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``intake_app``."""
    transport = httpx.ASGITransport(app=intake_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture()
def state(intake_app: Starlette) -> AppState:
    app_state: AppState = intake_app.state.pf
    return app_state


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    """The body of a well-formed envelope answer (checked), whatever its status."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"meta", "data", "errors"}, body
    meta = body["meta"]
    assert meta["status"] == response.status_code
    assert meta["numberOfData"] == len(body["data"])
    assert meta["numberOfErrors"] == len(body["errors"])
    assert meta["uniqId"] == response.headers["x-request-id"]
    for error in body["errors"]:
        assert set(error) == {"title", "message", "code", "meta"}, error
        assert isinstance(error["code"], str) and error["code"].isupper()
        assert set(error["meta"]) == {"parameter", "value", "source"}
    return dict(body)


def error_codes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["meta"]["parameter"]) for e in body["errors"]]


def drain(client: redis.Redis[bytes], queue: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """Pop every message of a queue: (task name, args, headers), oldest first."""
    out = []
    while (raw := client.rpop(queue)) is not None:
        task, args, _kwargs, headers = decode_message(raw)
        out.append((task, args, headers))
    return out


@pytest.fixture()
def clean_queues(redis_client: redis.Redis[bytes]) -> Iterator[redis.Redis[bytes]]:
    redis_client.delete(*queues.SEND_QUEUES)
    yield redis_client




@contextmanager
def api_process(extra_env: dict[str, str] | None = None, *, module: str = "pushflow.cli.main",
                start_timeout: float = 20.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real ``pushflow api`` server on a free port (``module`` runs the command line: a test
    may pass a wrapper of its own); yields (base URL, process)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "api", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, timeout=start_timeout)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
