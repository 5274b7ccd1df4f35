"""PostgreSQL connections lost under the intake (their server processes terminated): a 503
``UNAVAILABLE`` means nothing was accepted, a 202 that the push is stored and queued, and no
answer is a 500 -- including when the connection dies after the commit, before its answer
arrives. (When the database cannot even tell: tests/producer/test_pg_recovery.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest
import redis

from domain.messages import rows as persist
from producer.outbox import sweep_once
from producer.state import AppState
from shared import queues
from tests.producer.conftest import assert_envelope, drain, error_codes, ios_token

# The API's backends of this test session only: other sessions may share the server.
THIS_SESSIONS_API = ("application_name = 'pushflow-api' AND datname = current_database()"
                     " AND pid <> pg_backend_pid()")


async def lose_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    """The connection's server process ends, as in a failover: the connection is broken."""
    with pytest.raises(psycopg.OperationalError):
        await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert conn.broken


def body() -> dict[str, Any]:
    return {"device_tokens": [ios_token()], "content": "c"}


def stored_messages(db: psycopg.Connection[Any], app_id: int) -> int:
    row = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app_id,)).fetchone()
    return int(row[0]) if row else 0


async def test_lost_after_the_commit_is_a_202_sent_once(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = persist.insert_batch

    async def commit_then_lose_the_answer(conn: psycopg.AsyncConnection[Any], *args: Any,
                                          **kwargs: Any) -> set[str]:
        await real(conn, *args, **kwargs)
        await lose_connection(conn)
        return await real(conn, *args, **kwargs)  # what the broken connection would answer

    monkeypatch.setattr(persist, "insert_batch", commit_then_lose_the_answer)
    app = make_app()
    response = await api.post("/v2.1/push", json=body(), headers=app.headers())
    assert response.status_code == 202, response.text
    (dispatch,) = assert_envelope(response)["data"][0]["dispatches"]
    assert stored_messages(db, app.app_id) == 1
    published = drain(clean_queues, queues.APNS_TX)
    assert [p[1][0]["dispatchId"] for p in published] == [dispatch["dispatchId"]]


async def test_every_connection_lost_after_the_commit_is_still_a_202(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, state: AppState,
) -> None:
    """A restart: the pool's idle connections die with the one storing the push, so the first
    one asked whether it committed is dead too; another (a new one) answers."""
    real = persist.insert_batch

    async def commit_then_lose_every_connection(conn: psycopg.AsyncConnection[Any],
                                                *args: Any, **kwargs: Any) -> set[str]:
        await real(conn, *args, **kwargs)
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   f" WHERE {THIS_SESSIONS_API}")
        return await real(conn, *args, **kwargs)

    app = make_app()
    # Idle connections in the pool besides the one the push will take.
    assert all(r.status_code == 200 for r in await asyncio.gather(*(
        api.get("/v2.1/push", headers=app.headers()) for _ in range(3))))
    monkeypatch.setattr(persist, "insert_batch", commit_then_lose_every_connection)
    response = await api.post("/v2.1/push", json=body(), headers=app.headers())
    assert response.status_code == 202, response.text
    assert stored_messages(db, app.app_id) == 1
    assert len(drain(clean_queues, queues.APNS_TX)) == 1
    await state.pool.check()  # the pool's dead idle connections replaced, for the next tests


async def test_lost_before_the_commit_is_a_503_with_nothing_stored(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = persist.insert_batch

    async def lose_the_connection(conn: psycopg.AsyncConnection[Any], *args: Any,
                                  **kwargs: Any) -> set[str]:
        await lose_connection(conn)
        return await real(conn, *args, **kwargs)

    monkeypatch.setattr(persist, "insert_batch", lose_the_connection)
    app = make_app()
    response = await api.post("/v2.1/push", json=body(), headers=app.headers())
    assert response.status_code == 503
    assert error_codes(assert_envelope(response))[0][0] == "UNAVAILABLE"
    assert response.headers["retry-after"]
    assert stored_messages(db, app.app_id) == 0
    assert clean_queues.llen(queues.APNS_TX) == 0


async def test_backends_killed_mid_burst(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    """The API's PostgreSQL connections are terminated while 300 pushes are in flight (as in a
    failover): every answer is a 202 or a 503 UNAVAILABLE (the database, reachable, always
    tells whether a lost statement committed), the 202s are exactly the stored messages and
    the queued ones, and the API recovers on its own."""
    app = make_app()

    async def push() -> httpx.Response:
        return await api.post("/v2.1/push", json=body(), headers=app.headers())

    async def kill_backends() -> None:
        for _ in range(3):
            await asyncio.sleep(0.15)
            db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       f" WHERE {THIS_SESSIONS_API}")

    killer = asyncio.ensure_future(kill_backends())
    responses: list[httpx.Response] = []
    for _ in range(10):  # waves of 30 while the killer runs
        responses += await asyncio.gather(*(push() for _ in range(30)))
    await killer
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 503}, statuses
    for r in responses:
        body_of = assert_envelope(r)
        if r.status_code == 503:
            assert error_codes(body_of) == [("UNAVAILABLE", None)], r.text
    accepted = [r.json()["data"][0]["dispatches"][0]["dispatchId"] for r in responses
                if r.status_code == 202]
    assert stored_messages(db, app.app_id) == len(accepted)
    # Recovered: new pushes are accepted again.
    for _ in range(50):
        after = await push()
        if after.status_code == 202:
            accepted.append(after.json()["data"][0]["dispatches"][0]["dispatchId"])
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the API did not recover after its connections were killed")
    # Every accepted push is queued, and nothing else: what the writers published, plus what
    # the outbox sweeper publishes where a publish was not confirmed. A push may be queued twice
    # when its confirmation was lost with a connection; the send workers' exactly-once guard
    # sends it once (tests/workers).
    await asyncio.sleep(0.5)
    while await sweep_once(state):
        pass
    published = [p[1][0]["dispatchId"] for p in drain(clean_queues, queues.APNS_TX)]
    assert set(published) == set(accepted)
    await state.pool.check()
