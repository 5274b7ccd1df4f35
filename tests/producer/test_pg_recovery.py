"""PostgreSQL out of reach of the API (a TCP proxy between them, cut by the test): a push whose
answer was lost with the database is answered ``OUTCOME_UNKNOWN``, never "nothing accepted",
and its outcome can be learnt afterwards; once the database is reachable again the API accepts
pushes within 2 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from producer.app import create_app
from producer.outbox import sweep_once
from producer.state import AppState
from shared import queues
from shared.settings import get_settings
from tests.producer.conftest import (
    IN_PROCESS_SETTINGS,
    assert_envelope,
    drain,
    error_codes,
    ios_token,
)
from tests.tcp_proxy import TcpProxy

RECOVERY_BOUND_SECONDS = 2.0


class ProxiedApi:
    def __init__(self, client: httpx.AsyncClient, state: AppState, proxy: TcpProxy) -> None:
        self.client, self.state, self.proxy = client, state, proxy


@pytest.fixture()
async def proxied(pushflow_env: dict[str, str]) -> AsyncIterator[ProxiedApi]:
    """A second in-process API whose PostgreSQL connections go through a ``TcpProxy``."""
    settings = get_settings()
    target = conninfo_to_dict(settings.database_url)
    async with TcpProxy(str(target.get("host") or "127.0.0.1"),
                        int(target.get("port") or 5432)) as proxy:
        url = make_conninfo(settings.database_url, host="127.0.0.1", port=str(proxy.port))
        app = create_app(settings.model_copy(update={**IN_PROCESS_SETTINGS, "database_url": url}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield ProxiedApi(client, app.state.pf, proxy)


def push_body() -> dict[str, Any]:
    return {"device_tokens": [ios_token()], "content": "c"}


def stored(db: psycopg.Connection[Any], message_id: str) -> tuple[Any, ...] | None:
    return db.execute("SELECT id::text, request_id FROM messages WHERE id = %s",
                      (message_id,)).fetchone()


async def answer_lost_with_the_database(api: ProxiedApi, db: psycopg.Connection[Any],
                                        app_id: int, headers: dict[str, str],
                                        body: dict[str, Any]) -> httpx.Response:
    """A push whose statement PostgreSQL commits, while its answer is lost and PostgreSQL
    then becomes unreachable (for the writer's question whether it committed, too)."""
    before = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app_id,)).fetchone()
    api.proxy.hold_replies_after(b"INSERT INTO messages")
    pending = asyncio.ensure_future(api.client.post("/v2.1/push", json=body, headers=headers))
    await asyncio.wait_for(api.proxy.holding.wait(), 10)
    for _ in range(100):  # committed on the server, the answer held in the proxy
        now = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app_id,)).fetchone()
        if now != before:
            break
        await asyncio.sleep(0.05)
    await api.proxy.cut()
    response = await asyncio.wait_for(pending, 15)
    await api.proxy.restore()
    return response


async def warmed_up_app(api: ProxiedApi, make_app: Any, queue: redis.Redis[bytes]) -> Any:
    """A new app whose key the API has cached and whose first push went through."""
    app = make_app()
    warm = await api.client.post("/v2.1/push", json=push_body(), headers=app.headers())
    assert warm.status_code == 202, warm.text
    drain(queue, queues.APNS_TX)
    return app


def unknown_message_id(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    body = assert_envelope(response)
    assert error_codes(body) == [("OUTCOME_UNKNOWN", "messageId")]
    assert response.headers["retry-after"].isdigit()
    return str(body["errors"][0]["meta"]["value"])


async def test_unknown_outcome_is_not_nothing_accepted(
    proxied: ProxiedApi, make_app: Any, db: psycopg.Connection[Any],
    clean_queues: redis.Redis[bytes],
) -> None:
    app = await warmed_up_app(proxied, make_app, clean_queues)

    response = await answer_lost_with_the_database(proxied, db, app.app_id, app.headers(),
                                                   push_body())
    message_id = unknown_message_id(response)
    # It was stored, under the request's id: the answer says how to find it.
    assert stored(db, message_id) == (message_id, response.json()["meta"]["uniqId"])
    lookup = await wait_for_answer(proxied, f"/v2.1/push/{message_id}", app.headers())
    assert lookup.status_code == 200, lookup.text
    # The outbox publishes it (it will be delivered): the client must not resend blindly.
    assert await published_once_by_the_outbox(proxied, clean_queues) == [message_id]


async def published_once_by_the_outbox(api: ProxiedApi, queue: redis.Redis[bytes]) -> list[str]:
    """The message ids the outbox sweeper publishes (the test's warm-up push drained first)."""
    await asyncio.sleep(IN_PROCESS_SETTINGS["outbox_sweep_after_seconds"])
    while await sweep_once(api.state):
        pass
    return [args[0]["messageId"] for _, args, _ in drain(queue, queues.APNS_TX)]


async def test_retry_with_the_same_key_gets_the_first_answer(
    proxied: ProxiedApi, make_app: Any, db: psycopg.Connection[Any],
    clean_queues: redis.Redis[bytes],
) -> None:
    app = await warmed_up_app(proxied, make_app, clean_queues)
    headers = app.headers() | {"Idempotency-Key": "lost-answer-1"}

    body = push_body()
    response = await answer_lost_with_the_database(proxied, db, app.app_id, headers, body)
    message_id = unknown_message_id(response)
    assert stored(db, message_id) is not None
    # The retry (same key, same body) gets the first answer; nothing is stored twice.
    retry = await wait_for_answer(proxied, "/v2.1/push", headers, post=body)
    assert retry.status_code == 202, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["data"][0]["messageId"] == message_id
    assert db.execute("SELECT count(*) FROM messages WHERE app_id = %s",
                      (app.app_id,)).fetchone() == (2,)
    assert await published_once_by_the_outbox(proxied, clean_queues) == [message_id]


async def wait_for_answer(api: ProxiedApi, path: str, headers: dict[str, str],
                          post: dict[str, Any] | None = None) -> httpx.Response:
    """The first answer that is not a 503 (the API reconnecting)."""
    for _ in range(100):
        if post is None:
            response = await api.client.get(path, headers=headers)
        else:
            response = await api.client.post(path, json=post, headers=headers)
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.1)
    pytest.fail(f"{path}: still 503")


async def test_accepting_again_within_2s_of_the_database_coming_back(
    proxied: ProxiedApi, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
) -> None:
    app = make_app()
    answers: list[tuple[float, int]] = []  # (when answered, status)
    accepted: set[str] = set()
    unknown: set[str] = set()
    done = asyncio.Event()

    async def client() -> None:
        while not done.is_set():
            response = await proxied.client.post("/v2.1/push", json=push_body(),
                                                 headers=app.headers())
            body = assert_envelope(response)
            answers.append((time.monotonic(), response.status_code))
            if response.status_code == 202:
                accepted.add(body["data"][0]["messageId"])
            elif error_codes(body)[0][0] == "OUTCOME_UNKNOWN":
                unknown.add(body["errors"][0]["meta"]["value"])
            await asyncio.sleep(0.05)

    clients = [asyncio.ensure_future(client()) for _ in range(4)]
    try:
        await asyncio.sleep(0.5)
        await proxied.proxy.cut()
        # Long enough for the pool's default backoff (1, 2, 4, 8 s) to leave a gap of seconds.
        await asyncio.sleep(8.0)
        await proxied.proxy.restore()
        restored = time.monotonic()
        first = await wait_until_accepted(answers, restored, RECOVERY_BOUND_SECONDS + 10)
    finally:
        done.set()
        await asyncio.gather(*clients)
    assert {status for _, status in answers} <= {202, 503}
    assert any(status == 503 for _, status in answers)  # the cut was felt
    assert first - restored < RECOVERY_BOUND_SECONDS, f"202 again after {first - restored:.1f}s"
    # Every 202 is stored; a 503 UNAVAILABLE never is (only an OUTCOME_UNKNOWN may be).
    ids = {row[0] for row in db.execute("SELECT id::text FROM messages WHERE app_id = %s",
                                        (app.app_id,))}
    assert accepted <= ids and ids - accepted <= unknown
    await published_once_by_the_outbox(proxied, clean_queues)  # none left for later tests


async def wait_until_accepted(answers: list[tuple[float, int]], since: float,
                              timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted = [t for t, status in answers if status == 202 and t > since]
        if accepted:
            return min(accepted)
        await asyncio.sleep(0.02)
    pytest.fail("no 202 after the database came back")

