"""``/v2.1/devices`` through the real app in-process, and its agreement with the DLR worker's
invalidation and the intake's TOKEN_INVALIDATED rule."""

from __future__ import annotations

import secrets

import pytest

pytestmark = pytest.mark.asyncio


def _ios() -> str:
    return secrets.token_hex(32)


async def test_register_update_list_and_delete(api, make_app):
    app = make_app(scopes=("push:send", "push:read"))
    h = app.headers()
    token = _ios()
    r = await api.post("/v2.1/devices", headers=h, json={
        "token": token, "platform": "ios", "userId": "u-1", "language": "en-GB",
        "tags": ["vip", "beta", "vip"]})
    assert r.status_code == 201, r.text
    device = r.json()["data"][0]
    assert device["tags"] == ["vip", "beta"] and device["valid"] is True
    r = await api.post("/v2.1/devices", headers=h, json={"token": token, "platform": "ios",
                                                         "userId": "u-1"})
    assert r.status_code == 200 and r.json()["data"][0]["tags"] == []
    for _ in range(3):
        await api.post("/v2.1/devices", headers=h, json={"token": _ios(), "platform": "ios",
                                                         "userId": "u-2", "tags": ["t"]})
    assert [d["token"] for d in (await api.get("/v2.1/devices?userId=u-1",
                                               headers=h)).json()["data"]] == [token]
    page1 = (await api.get("/v2.1/devices?userId=u-2&limit=2", headers=h)).json()["data"]
    page2 = (await api.get("/v2.1/devices?userId=u-2&limit=2&offset=2",
                           headers=h)).json()["data"]
    assert len(page1) == 2 and len(page2) == 1
    assert len({d["token"] for d in page1 + page2}) == 3
    assert len((await api.get("/v2.1/devices?tag=t", headers=h)).json()["data"]) == 3
    other = make_app("other")
    assert (await api.get("/v2.1/devices?userId=u-1", headers=other.headers())).json()[
        "data"] == []
    assert (await api.delete(f"/v2.1/devices/{token}", headers=other.headers())).status_code \
        == 404
    assert (await api.delete(f"/v2.1/devices/{token}", headers=h)).status_code == 200
    assert (await api.delete(f"/v2.1/devices/{token}", headers=h)).status_code == 404


async def test_registering_again_after_invalidation_revalidates(api, make_app, db):
    app = make_app()
    token = _ios()
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at,"
               " invalid_reason) VALUES (%s, %s, 'ios', 'epoch', now() - interval '1 minute',"
               " 'unregistered')", (app.app_id, token))
    listed = (await api.get(f"/v2.1/devices?token={token}", headers=app.headers())).json()
    assert listed["data"][0]["valid"] is False and listed["data"][0]["registeredAt"] is None
    r = await api.post("/v2.1/devices", headers=app.headers(),
                       json={"token": token, "platform": "ios"})
    assert r.status_code == 200 and r.json()["data"][0]["valid"] is True
    row = db.execute("SELECT invalidated_at IS NOT NULL AND registered_at < invalidated_at"
                     " FROM devices WHERE token = %s", (token,)).fetchone()
    assert row == (False,)  # the intake's TOKEN_INVALIDATED condition no longer holds


@pytest.mark.parametrize(("body", "parameters"), [
    ({"platform": "ios"}, ["token"]),
    ({"token": _ios()}, ["platform"]),
    ({"token": _ios(), "platform": "web"}, ["platform"]),
    ({"token": "abc", "platform": "ios"}, ["token"]),
    ({"token": "x" * 5000, "platform": "android"}, ["token"]),
    ({"token": _ios(), "platform": "ios", "userId": 7, "language": "english!",
      "tags": ["ok", 3]}, ["userId", "language", "tags"]),
    ({"token": _ios(), "platform": "ios", "tags": ["t"] * 101}, ["tags"]),
    (["not", "an", "object"], ["body"]),
])
async def test_bad_registrations_are_422(api, make_app, body, parameters):
    r = await api.post("/v2.1/devices", headers=make_app().headers(), json=body)
    assert r.status_code == 422, r.text
    assert [e["meta"]["parameter"] for e in r.json()["errors"]] == parameters


async def test_scopes_and_query_errors(api, make_app):
    reader = make_app(scopes=("push:read",))
    r = await api.post("/v2.1/devices", headers=reader.headers(),
                       json={"token": _ios(), "platform": "ios"})
    assert r.status_code == 403
    writer = make_app(scopes=("push:send",))
    assert (await api.get("/v2.1/devices", headers=writer.headers())).status_code == 403
    r = await api.get("/v2.1/devices?limit=5000&platform=web", headers=reader.headers())
    assert r.status_code == 422 and len(r.json()["errors"]) == 2
