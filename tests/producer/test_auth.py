"""The two raw auth headers, scopes and tenant isolation; envelopes for every failure."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest

from domain.keys import store as apps
from producer.auth import KEY_CACHE_SECONDS
from producer.state import AppState
from pushflow.cli.app_commands import revoke_key
from tests.producer.conftest import assert_envelope, error_codes, ios_token

BODY = {"device_tokens": [ios_token()], "content": "c"}


@pytest.mark.parametrize("drop", ["Authorization", "Application-Key"])
async def test_missing_header_is_401(api: httpx.AsyncClient, make_app: Any, drop: str) -> None:
    headers = make_app().headers()
    del headers[drop]
    response = await api.post("/v2.1/push", json=BODY, headers=headers)
    assert response.status_code == 401
    assert error_codes(assert_envelope(response)) == [("UNAUTHORIZED", drop)]


async def test_wrong_secret_or_other_apps_key_is_401(api: httpx.AsyncClient,
                                                     make_app: Any) -> None:
    a, b = make_app(), make_app()
    for headers in ({**a.headers(), "Authorization": "pf_wrong"},
                    {"Authorization": a.secret, "Application-Key": b.app_key}):
        response = await api.post("/v2.1/push", json=BODY, headers=headers)
        assert response.status_code == 401, headers
        assert error_codes(assert_envelope(response))[0][0] == "UNAUTHORIZED"


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer "])
async def test_a_bearer_secret_is_401_saying_to_send_it_raw(
    api: httpx.AsyncClient, make_app: Any, prefix: str
) -> None:
    app = make_app()
    response = await api.post("/v2.1/push", json=BODY,
                              headers={**app.headers(), "Authorization": prefix + app.secret})
    assert response.status_code == 401
    [error] = assert_envelope(response)["errors"]
    assert error["code"] == "UNAUTHORIZED"
    assert "raw" in error["message"] and "without 'Bearer '" in error["message"]


@pytest.mark.parametrize("name", ["Authorization", "Application-Key"])
async def test_a_repeated_auth_header_is_refused_whichever_copy_is_right(
    api: httpx.AsyncClient, make_app: Any, name: str
) -> None:
    app, other = make_app(), make_app()
    wrong = {"Authorization": other.secret, "Application-Key": other.app_key}[name]
    for copies in ([wrong, app.headers()[name]], [app.headers()[name], wrong]):
        headers = [(k, v) for k, v in app.headers().items() if k != name]
        headers += [(name, value) for value in copies]
        response = await api.post("/v2.1/push", json=BODY, headers=headers)
        assert response.status_code == 401
        [error] = assert_envelope(response)["errors"]
        assert (error["code"], error["meta"]["parameter"]) == ("UNAUTHORIZED", name)
        assert f"2 {name} headers" in error["message"]


async def test_concurrent_misses_of_one_key_share_one_query(
    api: httpx.AsyncClient, make_app: Any, state: AppState
) -> None:
    app = make_app()
    key = (app.app_key, app.secret)
    first = asyncio.ensure_future(api.get("/v2.1/push", headers=app.headers()))
    deadline = time.monotonic() + 2
    while not state.keys.loads.in_flight(key) and time.monotonic() < deadline:
        await asyncio.sleep(0)
    assert state.keys.loads.in_flight(key)  # the others below join this load
    answers = await asyncio.gather(first, *(api.get("/v2.1/push", headers=app.headers())
                                            for _ in range(5)))
    assert [r.status_code for r in answers] == [200] * 6


async def test_missing_scope_is_403(api: httpx.AsyncClient, make_app: Any) -> None:
    reader = make_app(scopes=("push:read",))
    response = await api.post("/v2.1/push", json=BODY, headers=reader.headers())
    assert response.status_code == 403
    assert error_codes(assert_envelope(response))[0][0] == "FORBIDDEN"
    sender = make_app(scopes=("push:send",))
    for path in ("/v2.1/push", "/v2.1/push/01a21bca-14b1-723f-b684-36b791a482aa"):
        response = await api.get(path, headers=sender.headers())
        assert response.status_code == 403
    admin = make_app(scopes=("admin",))
    assert (await api.post("/v2.1/push", json=BODY, headers=admin.headers())).status_code == 202


async def test_a_key_revoked_by_the_cli_is_refused_at_once(
    api: httpx.AsyncClient, make_app: Any
) -> None:
    # The API's key-change listener has been idle for longer than a Redis socket timeout
    # before the first revocation.
    first, second = make_app(), make_app()
    await asyncio.sleep(2.5)
    for app in (first, second):
        # Cached by this request: without the announcement it would pass for KEY_CACHE_SECONDS.
        assert (await api.post("/v2.1/push", json=BODY, headers=app.headers())).status_code == 202
        assert revoke_key(argparse.Namespace(app_key=app.app_key,
                                             secret_prefix=app.secret[:10])) == 0
        started = time.monotonic()
        while (status := (await api.post("/v2.1/push", json=BODY, headers=app.headers())
                          ).status_code) == 202 and time.monotonic() - started < 1.5:
            await asyncio.sleep(0.05)
        assert status == 401
    assert KEY_CACHE_SECONDS > 1.5 + 1.0


async def test_a_revocation_nobody_announced_takes_effect_when_the_entry_expires(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any], state: AppState
) -> None:
    app = make_app()
    assert (await api.post("/v2.1/push", json=BODY, headers=app.headers())).status_code == 202
    apps.revoke_key(db, app.secret, app.app_key)  # no announcement (as with Redis down)
    assert (await api.post("/v2.1/push", json=BODY, headers=app.headers())).status_code == 202
    state.keys.expire_all()  # what KEY_CACHE_SECONDS of waiting would do
    response = await api.post("/v2.1/push", json=BODY, headers=app.headers())
    assert response.status_code == 401


async def test_another_apps_message_is_404(api: httpx.AsyncClient, make_app: Any) -> None:
    a, b = make_app("a"), make_app("b")
    sent = await api.post("/v2.1/push", json={**BODY, "externalId": "mine"}, headers=a.headers())
    message_id = sent.json()["data"][0]["messageId"]
    assert (await api.get(f"/v2.1/push/{message_id}", headers=a.headers())).status_code == 200
    other = await api.get(f"/v2.1/push/{message_id}", headers=b.headers())
    assert other.status_code == 404
    assert error_codes(assert_envelope(other))[0][0] == "NOT_FOUND"
    found = await api.get("/v2.1/push", params={"externalId": "mine"}, headers=b.headers())
    assert found.json()["data"] == []


async def test_unknown_route_and_method_are_envelopes(api: httpx.AsyncClient) -> None:
    missing = await api.get("/v2.1/nothing-here")
    assert missing.status_code == 404
    assert error_codes(assert_envelope(missing))[0][0] == "NOT_FOUND"
    wrong = await api.delete("/v2.1/push")
    assert wrong.status_code == 405
    assert_envelope(wrong)


async def test_a_request_records_the_keys_last_use_once_a_minute(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any], state: AppState
) -> None:
    caller = make_app()

    def last_used() -> Any:
        return apps.list_keys(db, caller.app_key)[0].last_used_at

    assert last_used() is None
    assert (await api.post("/v2.1/push", json=BODY, headers=caller.headers())).status_code == 202
    deadline = time.monotonic() + 5
    while last_used() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    first = last_used()
    assert first is not None
    # Later requests within the minute write nothing, not even a no-op UPDATE.
    db.execute("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE"
               " key_prefix = %s", (caller.secret[:10],))
    moved_back = last_used()
    for _ in range(3):
        assert (await api.get("/v2.1/push", headers=caller.headers())).status_code == 200
    await asyncio.gather(*state.keys.use_writes)
    assert last_used() == moved_back
