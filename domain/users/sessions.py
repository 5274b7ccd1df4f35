"""Server-side panel sessions. The cookie holds a random session id; the table holds its SHA-256
only, with the user, the CSRF token of the session's forms (synchronizer token) and when it
expires. Signing in always starts a new session (no fixation); signing out deletes it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]

_GET = """
SELECT s.user_id, u.email, s.csrf_token, s.expires_at
FROM panel_sessions s JOIN panel_users u ON u.id = s.user_id
WHERE s.id_hash = %s AND s.expires_at > now()
"""


@dataclass(frozen=True)
class NewSession:
    session_id: str  # for the cookie only: never stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    user_id: int
    email: str
    csrf_token: str
    expires_at: datetime


def _hash(session_id: str) -> bytes:
    # A 256-bit random id: a fast hash suffices (nothing to brute-force).
    return hashlib.sha256(session_id.encode()).digest()


async def start(conn: Conn, user_id: int, lifetime_seconds: int) -> NewSession:
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    # Expired sessions go as new ones come: the table stays the size of the live ones.
    await conn.execute("DELETE FROM panel_sessions WHERE expires_at < now()")
    cur = await conn.execute(
        "INSERT INTO panel_sessions (id_hash, user_id, csrf_token, expires_at)"
        " VALUES (%s, %s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
        (_hash(session_id), user_id, csrf, lifetime_seconds))
    row = await cur.fetchone()
    assert row is not None
    return NewSession(session_id, csrf, row[0])


async def find(conn: Conn, session_id: str) -> Session | None:
    """The live session of this cookie value, or None (unknown, expired or signed out)."""
    cur = await conn.execute(_GET, (_hash(session_id),))
    row = await cur.fetchone()
    return None if row is None else Session(int(row[0]), str(row[1]), str(row[2]), row[3])


async def end(conn: Conn, session_id: str) -> None:
    await conn.execute("DELETE FROM panel_sessions WHERE id_hash = %s", (_hash(session_id),))


async def end_all(conn: Conn, user_id: int) -> None:
    """Sign the user out everywhere (a password change)."""
    await conn.execute("DELETE FROM panel_sessions WHERE user_id = %s", (user_id,))
