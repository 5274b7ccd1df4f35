"""The registry: a registration is the device's whole state; a gateway's verdict holds until the
token is registered again."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from domain.devices import registry


async def test_register_again_replaces_the_state_and_revalidates(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    token = secrets.token_hex(32)
    first, created = await registry.register(aconn, app.app_id, registry.Registration(
        token, "ios", user_id="u1", language="pt-BR", tags=("vip", "vip", "beta")))
    assert created and first.valid and first.tags == ["vip", "beta"]
    db.execute("UPDATE devices SET registered_at = now() - interval '1 day',"
               " invalidated_at = now() - interval '1 hour', invalid_reason = 'unregistered'"
               " WHERE app_id = %s AND token = %s",
               (app.app_id, token))
    assert await registry.verdicts(aconn, app.app_id, [token, "unknown"]) == {
        token: registry.Verdict("ios", invalidated=True)}
    again, created = await registry.register(aconn, app.app_id,
                                             registry.Registration(token, "ios"))
    assert not created and (again.user_id, again.language, again.tags) == (None, None, [])
    assert await registry.verdicts(aconn, app.app_id, [token]) == {
        token: registry.Verdict("ios", invalidated=False)}
    assert [d.token for d in await registry.list_devices(
        aconn, app.app_id, registry.DeviceFilter(platform="ios"), offset=0, limit=10)] == [token]
    forgotten = await registry.forget(aconn, app.app_id, token)
    assert forgotten is not None and forgotten.token == token
    assert await registry.forget(aconn, app.app_id, token) is None


async def test_a_token_only_a_gateway_reported_has_no_registration_time(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at)"
               " VALUES (%s, 'seen-once', 'android', 'epoch', now())", (app.app_id,))
    [device] = await registry.list_devices(aconn, app.app_id, registry.DeviceFilter(),
                                           offset=0, limit=10)
    assert device.registered_at is None and not device.valid
