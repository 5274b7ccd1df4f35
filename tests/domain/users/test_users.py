"""domain.users against the session's PostgreSQL: sessions (stored hashed, expiring, ended),
the sign-in throttle's window, roles and the last admin, passwords."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest

from domain.users import passwords, sessions
from domain.users import store as users
from domain.users.throttle import Throttle


async def _user(aconn: Any) -> users.User:
    user, created = await users.create_user(aconn, f"u-{secrets.token_hex(4)}@example.com",
                                            "$argon2id$not-checked-here")
    assert created
    return user


async def test_a_session_is_stored_hashed_expires_and_ends(aconn: Any) -> None:
    user = await _user(aconn)
    new = await sessions.start(aconn, user.id, 3600)
    found = await sessions.find(aconn, new.session_id)
    assert found is not None and (found.user_id, found.csrf_token) == (user.id, new.csrf_token)
    cur = await aconn.execute("SELECT id_hash FROM panel_sessions WHERE user_id = %s",
                              (user.id,))
    assert [bytes(r[0]) for r in await cur.fetchall()] == [
        hashlib.sha256(new.session_id.encode()).digest()]
    assert await sessions.find(aconn, new.session_id + "x") is None
    await aconn.execute("UPDATE panel_sessions SET expires_at = now() - interval '1 s'"
                        " WHERE user_id = %s", (user.id,))
    assert await sessions.find(aconn, new.session_id) is None
    other = await sessions.start(aconn, user.id, 3600)  # also purges the expired one
    await sessions.end(aconn, other.session_id)
    assert await sessions.find(aconn, other.session_id) is None
    cur = await aconn.execute("SELECT count(*) FROM panel_sessions WHERE user_id = %s",
                              (user.id,))
    assert (await cur.fetchone())[0] == 0


async def test_the_throttle_blocks_past_the_limit_until_the_window_ends(aconn: Any) -> None:
    rule = Throttle(email_limit=3, address_limit=100, window_seconds=60)
    email, address = f"t-{secrets.token_hex(4)}@example.com", f"10.9.{secrets.randbelow(200)}.1"
    for _ in range(2):
        await rule.failed(aconn, email, address)
    assert await rule.retry_after(aconn, email, address) is None
    await rule.failed(aconn, email, address)
    wait = await rule.retry_after(aconn, email.upper(), "192.0.2.7")  # any address
    assert wait is not None and 0 < wait <= 60
    await aconn.execute("UPDATE panel_signin_failures SET window_started_at = now()"
                        " - interval '61 s' WHERE key = %s", (f"email:{email}",))
    assert await rule.retry_after(aconn, email, address) is None
    await rule.failed(aconn, email, address)  # a new window: the count starts again
    assert await rule.retry_after(aconn, email, address) is None
    await rule.succeeded(aconn, email)
    cur = await aconn.execute("SELECT count(*) FROM panel_signin_failures WHERE key = %s",
                              (f"email:{email}",))
    assert (await cur.fetchone())[0] == 0
    by_address = Throttle(email_limit=100, address_limit=2, window_seconds=60)
    for n in range(2):
        await by_address.failed(aconn, f"spray{n}-{email}", address)
    assert await by_address.retry_after(aconn, "anyone@example.com", address) is not None


async def test_roles_order_and_the_last_admin_is_kept(aconn: Any, make_app: Any) -> None:
    assert users.allows("admin", "developer") and users.allows("developer", "support")
    assert not users.allows("support", "developer") and not users.allows("developer", "admin")
    app = make_app()
    first, second = await _user(aconn), await _user(aconn)
    assert await users.set_role(aconn, app.app_id, first.id, "admin") is True
    with pytest.raises(users.LastAdmin):
        await users.set_role(aconn, app.app_id, first.id, "support")
    with pytest.raises(users.LastAdmin):
        await users.remove(aconn, app.app_id, first.id)
    assert await users.set_role(aconn, app.app_id, second.id, "admin") is True
    assert await users.set_role(aconn, app.app_id, first.id, "support") is False
    assert [m.role for m in await users.memberships(aconn, first.id)] == ["support"]
    assert await users.membership(aconn, first.id, "app_nope") is None
    assert await users.remove(aconn, app.app_id, first.id) is True
    assert await users.remove(aconn, app.app_id, first.id) is False


def test_passwords() -> None:
    with pytest.raises(passwords.WeakPassword):
        passwords.hash_password("short")
    stored = passwords.hash_password("a long enough password")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "a long enough password")
    assert not passwords.verify_password(stored, "a long enough passworD")
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("garbage", "anything at all")
    with pytest.raises(users.InvalidEmail):
        users.normalize_email("no at sign")
