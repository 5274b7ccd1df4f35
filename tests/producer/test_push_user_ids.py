"""``POST /v2.1/push`` addressed to users: their valid registered devices, resolved as the
automation rules resolve an event's user."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import psycopg

from tests.producer.conftest import android_token, assert_envelope, error_codes, ios_token


async def test_user_ids_reach_every_valid_device_of_each_user(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("users")
    h = app.headers()
    user = "u-" + secrets.token_hex(4)
    phone, tablet, dead, extra = ios_token(), android_token(), ios_token(), ios_token()
    for token, platform in ((phone, "ios"), (tablet, "android"), (dead, "ios")):
        r = await api.post("/v2.1/devices", headers=h, json={
            "token": token, "platform": platform, "userId": user})
        assert r.status_code == 201, r.text
    db.execute("UPDATE devices SET invalidated_at = now() + interval '1 s' WHERE token = %s",
               (dead,))
    r = await api.post("/v2.1/push", headers=h, json={
        "userIds": [user, "nobody"], "device_tokens": [extra, phone], "content": "hi"})
    body = assert_envelope(r)
    assert r.status_code == 202, r.text
    assert sorted(d["deviceToken"] for d in body["data"][0]["dispatches"]) == sorted(
        [extra, phone, tablet])
    assert error_codes(body) == [("NO_DEVICES", "userIds[1]")]


async def test_users_without_devices_or_nothing_to_address_are_refused(
        api: httpx.AsyncClient, make_app: Any) -> None:
    h = make_app("users").headers()
    r = await api.post("/v2.1/push", headers=h, json={"userIds": ["nobody"], "content": "hi"})
    assert r.status_code == 422
    assert error_codes(assert_envelope(r)) == [("NO_DEVICES", "userIds[0]")]
    r = await api.post("/v2.1/push", headers=h, json={"content": "hi"})
    assert error_codes(assert_envelope(r)) == [("REQUIRED", "device_tokens")]
