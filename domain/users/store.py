"""Panel users and their role per app (async psycopg; the CLI runs these with ``asyncio.run``).

Roles, highest first: ``admin`` (everything), ``developer`` (keys, webhooks, test pushes),
``support`` (read only). ``allows(role, needed)`` is the one place the order is written. An app
always keeps at least one admin: removing or demoting its last one is refused (``LastAdmin``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from domain.users.passwords import hash_password

Conn = psycopg.AsyncConnection[Any]
Role = Literal["admin", "developer", "support"]
ROLES: tuple[Role, ...] = ("admin", "developer", "support")
_RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}
MAX_EMAIL = 254
# Deliberately loose (one @, a dot in the domain, no spaces): the address is an account name,
# never mailed to by Pushflow.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_MEMBERSHIPS = """
SELECT m.user_id, a.id, a.app_key, a.name, m.role
FROM panel_memberships m JOIN apps a ON a.id = m.app_id
WHERE m.user_id = %s {where} ORDER BY a.name, a.app_key
"""
_MEMBERS = """
SELECT u.id, u.email, m.role, m.created_at FROM panel_memberships m
JOIN panel_users u ON u.id = m.user_id WHERE m.app_id = %s {where} ORDER BY lower(u.email)
"""


class InvalidEmail(ValueError):
    pass


class UnknownRole(ValueError):
    pass


class LastAdmin(ValueError):
    """The change would leave the app without an admin."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Credentials:
    """A user with the password hash to check a sign-in against."""

    user: User
    password_hash: str


@dataclass(frozen=True)
class Membership:
    """What a user is in one app."""

    user_id: int
    app_id: int
    app_key: str
    app_name: str
    role: Role


@dataclass(frozen=True)
class Member:
    """A user of an app, as the app's user list shows them."""

    user_id: int
    email: str
    role: Role
    added_at: datetime


def allows(role: Role, needed: Role) -> bool:
    """Whether ``role`` may do what needs ``needed``."""
    return _RANK[role] >= _RANK[needed]


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise UnknownRole(f"role must be one of {', '.join(ROLES)}")


def normalize_email(email: str) -> str:
    email = email.strip()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise InvalidEmail("not an email address")
    return email


def _user(row: Any) -> User:
    return User(int(row[0]), str(row[1]), row[2])


async def app_id_of(conn: Conn, app_key: str) -> int | None:
    """The id of the app with this application key, or None."""
    cur = await conn.execute("SELECT id FROM apps WHERE app_key = %s", (app_key,))
    row = await cur.fetchone()
    return None if row is None else int(row[0])


async def find_by_email(conn: Conn, email: str) -> Credentials | None:
    cur = await conn.execute("SELECT id, email, created_at, password_hash FROM panel_users"
                             " WHERE lower(email) = lower(%s)", (email.strip(),))
    row = await cur.fetchone()
    return None if row is None else Credentials(_user(row), str(row[3]))


async def create_user(conn: Conn, email: str, password_hash: str) -> tuple[User, bool]:
    """The user with this email, created with ``password_hash`` when there is none; (user,
    created). An existing user's password is never changed here."""
    email = normalize_email(email)
    cur = await conn.execute(
        "INSERT INTO panel_users (email, password_hash) VALUES (%s, %s)"
        " ON CONFLICT ((lower(email))) DO NOTHING RETURNING id, email, created_at",
        (email, password_hash))
    row = await cur.fetchone()
    if row is not None:
        return _user(row), True
    found = await find_by_email(conn, email)
    assert found is not None
    return found.user, False


async def set_password(conn: Conn, user_id: int, password: str) -> None:
    await conn.execute("UPDATE panel_users SET password_hash = %s WHERE id = %s",
                       (hash_password(password), user_id))


async def memberships(conn: Conn, user_id: int) -> list[Membership]:
    """Every app the user belongs to, by name."""
    cur = await conn.execute(_MEMBERSHIPS.format(where=""), (user_id,))
    return [Membership(int(r[0]), int(r[1]), r[2], r[3], check_role(r[4]))
            for r in await cur.fetchall()]


async def membership(conn: Conn, user_id: int, app_key: str) -> Membership | None:
    """The user's membership of the app with this key, or None (not a member, or no app)."""
    cur = await conn.execute(_MEMBERSHIPS.format(where="AND a.app_key = %s"),
                             (user_id, app_key))
    r = await cur.fetchone()
    return None if r is None else Membership(int(r[0]), int(r[1]), r[2], r[3], check_role(r[4]))


async def members(conn: Conn, app_id: int) -> list[Member]:
    cur = await conn.execute(_MEMBERS.format(where=""), (app_id,))
    return [Member(int(r[0]), r[1], check_role(r[2]), r[3]) for r in await cur.fetchall()]


async def member(conn: Conn, app_id: int, email: str) -> Member | None:
    cur = await conn.execute(_MEMBERS.format(where="AND lower(u.email) = lower(%s)"),
                             (app_id, email.strip()))
    r = await cur.fetchone()
    return None if r is None else Member(int(r[0]), r[1], check_role(r[2]), r[3])


async def set_role(conn: Conn, app_id: int, user_id: int, role: Role) -> bool:
    """Add the user to the app with ``role``, or change their role; True when the membership
    is new. Demoting the app's last admin raises ``LastAdmin``."""
    async with conn.transaction():
        await _lock_app(conn, app_id)
        cur = await conn.execute("SELECT role FROM panel_memberships WHERE app_id = %s"
                                 " AND user_id = %s", (app_id, user_id))
        row = await cur.fetchone()
        if row is not None and row[0] == "admin" and role != "admin":
            await _keep_an_admin(conn, app_id)
        await conn.execute(
            "INSERT INTO panel_memberships (user_id, app_id, role) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id, app_id) DO UPDATE SET role = EXCLUDED.role",
            (user_id, app_id, role))
    return row is None


async def remove(conn: Conn, app_id: int, user_id: int) -> bool:
    """Take the user out of the app; False when they were not in it."""
    async with conn.transaction():
        await _lock_app(conn, app_id)
        cur = await conn.execute("SELECT role FROM panel_memberships WHERE app_id = %s"
                                 " AND user_id = %s", (app_id, user_id))
        row = await cur.fetchone()
        if row is None:
            return False
        if row[0] == "admin":
            await _keep_an_admin(conn, app_id)
        await conn.execute("DELETE FROM panel_memberships WHERE app_id = %s AND user_id = %s",
                           (app_id, user_id))
    return True


async def _lock_app(conn: Conn, app_id: int) -> None:
    # Two admins demoting each other at once must not both succeed.
    await conn.execute("SELECT 1 FROM apps WHERE id = %s FOR UPDATE", (app_id,))


async def _keep_an_admin(conn: Conn, app_id: int) -> None:
    cur = await conn.execute("SELECT count(*) FROM panel_memberships WHERE app_id = %s"
                             " AND role = 'admin'", (app_id,))
    row = await cur.fetchone()
    if row is None or int(row[0]) <= 1:
        raise LastAdmin("an app keeps at least one admin")
