"""A device's story through the registry's public reader: the dispatch that brought the
gateway's rejection is the first failed one since the token's registration -- any, for a token
only ever reported dead (never registered)."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import psycopg

from domain.devices import registry
from domain.devices.story import device_story


def _dispatch(db: psycopg.Connection[Any], app_id: int, token: str, status: str,
              reason: str | None, age: str) -> str:
    message = db.execute("INSERT INTO messages (id, app_id, content) VALUES (%s, %s, '{}')"
                         " RETURNING id", (uuid.uuid4(), app_id)).fetchone()[0]
    dispatch = str(uuid.uuid4())
    db.execute("INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status,"
               " reason, created_at) VALUES (%s, %s, %s, %s, 'ios', %s, %s, now() - %s::interval)",
               (dispatch, message, app_id, token, status, reason, age))
    return dispatch


async def test_the_rejection_is_traced_to_the_first_failure_since_registration(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    token = secrets.token_hex(32)
    _dispatch(db, app.app_id, token, "failed", "unregistered", "3 days")  # an earlier life
    await registry.register(aconn, app.app_id, registry.Registration(token, "ios", user_id="u"))
    db.execute("UPDATE devices SET registered_at = now() - interval '2 days' WHERE token = %s",
               (token,))
    sent = _dispatch(db, app.app_id, token, "sent", None, "1 day")
    killer = _dispatch(db, app.app_id, token, "failed", "unregistered", "1 hour")
    db.execute("UPDATE devices SET invalidated_at = now(), invalid_reason = 'unregistered'"
               " WHERE token = %s", (token,))
    story = await device_story(aconn, app.app_id, token)
    assert story.device is not None and story.device.user_id == "u" and not story.device.valid
    assert story.last_success is not None and story.last_success.id == sent
    assert story.invalidated_by is not None and story.invalidated_by.id == killer

    never = secrets.token_hex(32)  # reported dead, never registered (the epoch)
    first = _dispatch(db, app.app_id, never, "failed", "unregistered", "5 days")
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at,"
               " invalid_reason) VALUES (%s, %s, 'ios', 'epoch', now(), 'unregistered')",
               (app.app_id, never))
    story = await device_story(aconn, app.app_id, never)
    assert story.device is not None and story.device.registered_at is None
    assert story.last_success is None
    assert story.invalidated_by is not None and story.invalidated_by.id == first
    assert (await device_story(aconn, app.app_id, secrets.token_hex(32))).device is None
    assert await registry.find_device(aconn, make_app().app_id, token) is None  # scoped by app
