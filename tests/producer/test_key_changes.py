"""The API's key-change listener (``producer.auth.watch_key_changes``) survives a Redis restart:
revocations announced after it are still applied at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from domain.keys import store as apps
from producer.app import create_app
from producer.outbox import sweep_once
from shared.settings import get_settings
from tests.producer.conftest import IN_PROCESS_SETTINGS, ios_token
from tests.services import free_port, redis_server

BODY = {"device_tokens": [ios_token()], "content": "c"}


async def _revoked_at_once(client: httpx.AsyncClient, make_app: Any,
                           db: psycopg.Connection[Any], redis_url: str) -> bool:
    """A fresh key, cached by one request, revoked and announced: refused within half a second
    (its cache entry alone would keep it working for KEY_CACHE_SECONDS)?"""
    caller = make_app()
    assert (await client.post("/v2.1/push", json=BODY, headers=caller.headers())
            ).status_code == 202
    apps.revoke_key(db, caller.secret, caller.app_key, redis_url=redis_url)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        status = (await client.post("/v2.1/push", json=BODY, headers=caller.headers())
                  ).status_code
        if status == 401:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_revocations_apply_at_once_after_a_redis_restart(
    tmp_path: Path, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(get_settings().model_copy(update={**IN_PROCESS_SETTINGS, "redis_url": url}))
    first = redis_server(tmp_path, port=port)
    first.__enter__()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await asyncio.sleep(0.5)  # the listener subscribes
                assert await _revoked_at_once(client, make_app, db, url)
                first.__exit__(None, None, None)  # Redis goes away...
                first = None
                await asyncio.sleep(1.5)
                with redis_server(tmp_path, port=port):  # ...and comes back, empty
                    deadline = time.monotonic() + 15
                    while not await _revoked_at_once(client, make_app, db, url):
                        assert time.monotonic() < deadline, "listener never came back"
                    # A publish on a connection of the dead server went to the outbox: publish
                    # it here, not into a later test's sweep of the shared database.
                    await asyncio.sleep(IN_PROCESS_SETTINGS["outbox_sweep_after_seconds"] + 0.2)
                    while await sweep_once(app.state.pf):
                        pass
    finally:
        if first is not None:
            first.__exit__(None, None, None)
