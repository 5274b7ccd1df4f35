"""``/v2.1/keys`` and ``/v2.1/users`` through the real app in-process (real PostgreSQL and
Redis): a key created (secret once), used, listed with its last use, revoked and refused at
once; users added (a generated password once), an existing account's password untouched, roles
changed, the last admin kept."""

from __future__ import annotations

import secrets

import pytest

from domain.users import passwords
from domain.users import store as users
from tests.producer.conftest import assert_envelope, error_codes, ios_token

pytestmark = pytest.mark.asyncio


async def test_keys_created_listed_and_revoked_at_once(api, make_app):
    app = make_app()
    h = app.headers()
    r = await api.post("/v2.1/keys", headers=h, json={"scopes": ["push:send", "push:send"]})
    assert r.status_code == 201, r.text
    new = assert_envelope(r)["data"][0]
    assert new["scopes"] == ["push:send"] and new["prefix"] == new["secret"][:10]
    theirs = {"Authorization": new["secret"], "Application-Key": app.app_key}
    push = {"device_tokens": [ios_token()], "content": "c"}
    assert (await api.post("/v2.1/push", headers=theirs, json=push)).status_code == 202
    listed = (await api.get("/v2.1/keys", headers=h)).json()["data"]
    assert listed[0]["prefix"] == new["prefix"]
    assert "secret" not in listed[0] and listed[0]["revokedAt"] is None

    r = await api.delete(f"/v2.1/keys/{new['prefix']}", headers=h)
    assert r.status_code == 200 and r.json()["data"] == [{"revoked": 1}]
    assert (await api.post("/v2.1/push", headers=theirs, json=push)).status_code == 401
    assert (await api.delete(f"/v2.1/keys/{new['prefix']}", headers=h)).status_code == 404
    assert (await api.delete("/v2.1/keys/short", headers=h)).status_code == 404


async def test_bad_key_bodies_are_422(api, make_app):
    h = make_app().headers()
    for body in ({"scopes": []}, {"scopes": ["root"]}, {"scopes": "admin"}, {"x": 1}):
        r = await api.post("/v2.1/keys", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert assert_envelope(r)["errors"]


async def test_users_added_roles_changed_and_the_last_admin_kept(api, make_app, state):
    app = make_app()
    h = app.headers()
    email = f"ops-{secrets.token_hex(4)}@example.com"
    r = await api.post("/v2.1/users", headers=h, json={"email": email, "role": "admin"})
    assert r.status_code == 201, r.text
    added = r.json()["data"][0]
    assert added["created"] is True and len(added["password"]) >= passwords.MIN_LENGTH
    async with state.pool.connection() as conn:
        found = await users.find_by_email(conn, email)
    assert found is not None and passwords.verify_password(found.password_hash,
                                                           added["password"])

    # Another app adding the same email: the account keeps its password.
    other = make_app("other").headers()
    r = await api.post("/v2.1/users", headers=other, json={
        "email": email.upper(), "role": "support", "password": "another password!"})
    assert r.status_code == 201 and r.json()["data"][0]["created"] is False
    assert r.json()["data"][0]["password"] is None
    async with state.pool.connection() as conn:
        again = await users.find_by_email(conn, email)
    assert again is not None and again.password_hash == found.password_hash

    r = await api.put(f"/v2.1/users/{email}", headers=h, json={"role": "support"})
    assert r.status_code == 422 and "at least one admin" in r.text
    second = f"dev-{secrets.token_hex(4)}@example.com"
    assert (await api.post("/v2.1/users", headers=h, json={
        "email": second, "role": "admin", "password": "long enough pw"})).status_code == 201
    r = await api.put(f"/v2.1/users/{email}", headers=h, json={"role": "developer"})
    assert r.status_code == 200 and r.json()["data"][0]["role"] == "developer"
    listed = {m["email"]: m["role"] for m in (await api.get("/v2.1/users", headers=h)
                                              ).json()["data"]}
    assert listed == {email: "developer", second: "admin"}
    assert (await api.delete(f"/v2.1/users/{second}", headers=h)).status_code == 422
    assert (await api.delete(f"/v2.1/users/{email}", headers=h)).json()["data"] == [
        {"removed": True}]
    assert (await api.delete(f"/v2.1/users/{email}", headers=h)).status_code == 404
    assert (await api.put("/v2.1/users/nobody@example.com", headers=h,
                          json={"role": "admin"})).status_code == 404


async def test_bad_user_bodies_are_422(api, make_app):
    h = make_app().headers()
    for body, parameter in (({"email": "not-an-email", "role": "admin"}, "email"),
                            ({"email": "a@b.co", "role": "owner"}, "role"),
                            ({"email": "a@b.co", "role": "admin", "password": "short"},
                             "password")):
        r = await api.post("/v2.1/users", headers=h, json=body)
        assert r.status_code == 422, r.text
        assert [p for _, p in error_codes(assert_envelope(r))] == [parameter], r.text
