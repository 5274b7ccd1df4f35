"""/healthz, /readyz and /metrics of the API (producer.routes.ops) against the session's real
PostgreSQL and Redis, and against dead ones."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from producer.routes import ops
from shared.db.migrate import latest_version
from shared.settings import get_settings
from tests.services import free_port


def client() -> httpx.AsyncClient:
    app = Starlette(routes=ops.routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture()
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


async def test_ready_when_everything_answers(pushflow_env: dict[str, str]) -> None:
    async with client() as c:
        alive = await c.get("/healthz")
        ready = await c.get("/readyz")
        metrics = await c.get("/metrics")
    assert alive.status_code == 200
    assert ready.status_code == 200, ready.text
    checks = {check["name"]: check for check in ready.json()["checks"]}
    assert all(check["ok"] for check in checks.values())
    assert checks["migrations"]["detail"] == f"version {latest_version()}"
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "pushflow_http_requests_total" in metrics.text


async def test_not_ready_when_redis_is_down(pushflow_env: dict[str, str],
                                            settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("PUSHFLOW_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    get_settings.cache_clear()
    async with client() as c:
        ready = await c.get("/readyz")
        alive = await c.get("/healthz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    failed = [check["name"] for check in ready.json()["checks"] if not check["ok"]]
    assert failed == ["redis"]
    assert alive.status_code == 200  # liveness never depends on the backing services


async def test_not_ready_when_the_schema_is_behind(pushflow_env: dict[str, str],
                                                   settings_env: pytest.MonkeyPatch) -> None:
    base = pushflow_env["PUSHFLOW_DATABASE_URL"].rsplit("/", 1)[0]
    name = f"pushflow_ops_empty_{free_port()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        settings_env.setenv("PUSHFLOW_DATABASE_URL", f"{base}/{name}")
        get_settings.cache_clear()
        async with client() as c:
            ready = await c.get("/readyz")
        assert ready.status_code == 503
        checks = {check["name"]: check for check in ready.json()["checks"]}
        assert checks["postgres"]["ok"] and not checks["migrations"]["ok"]
        assert "pushflow migrate" in checks["migrations"]["detail"]
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
