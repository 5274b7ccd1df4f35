"""Apps (tenants) and their API keys. Keys are random secrets stored only as SHA-256 hashes.

Create, list (with when each key was last used) and revoke take a synchronous connection (the
CLI's); ``find_key`` and ``record_use`` are the API's, asynchronous. ``record_use`` stamps
``last_used_at`` at most once per ``LAST_USE_RESOLUTION_SECONDS`` per key, so the intake's hot
path does not write a row per request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from domain.keys.announce import announce

SCOPES = ("push:send", "push:read", "events:send", "automations:write", "campaigns:write",
          "receipts:write", "admin")
DEFAULT_SCOPES = ("push:send", "push:read")  # what ``pushflow keys create`` gives by default
# How precise "last used" is: an API process records a key's use at most this often.
LAST_USE_RESOLUTION_SECONDS = 60.0
PREFIX_CHARS = 10  # the first characters of a secret, kept to show and revoke it by

_FIND = """
SELECT k.id, a.id, a.app_key, k.scopes, a.limits FROM api_keys k JOIN apps a ON a.id = k.app_id
WHERE k.key_hash = %s AND a.app_key = %s AND k.revoked_at IS NULL
"""
_LIST = """
SELECT k.id, a.app_key, k.key_prefix, k.scopes, k.created_at, k.revoked_at, k.last_used_at
FROM api_keys k JOIN apps a ON a.id = k.app_id WHERE a.app_key = %s
ORDER BY k.created_at DESC, k.id DESC
"""
# Every app with its key counts (live, revoked); ``{where}`` narrows it to one app.
_APPS = """
SELECT a.id, a.app_key, a.name, a.created_at, a.limits,
       count(k.id) FILTER (WHERE k.revoked_at IS NULL),
       count(k.id) FILTER (WHERE k.revoked_at IS NOT NULL)
FROM apps a LEFT JOIN api_keys k ON k.app_id = a.id {where}
GROUP BY a.id ORDER BY a.created_at, a.id
"""
_RECORD_USE = """
UPDATE api_keys SET last_used_at = now()
WHERE id = ANY(%s) AND (last_used_at IS NULL
    OR last_used_at < now() - make_interval(secs => %s))
"""


class UnknownScope(ValueError):
    pass


class UnknownApp(LookupError):
    pass


@dataclass(frozen=True)
class NewKey:
    application_key: str
    secret: str  # shown once: only its hash is stored
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: int
    application_key: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None  # to within LAST_USE_RESOLUTION_SECONDS


@dataclass(frozen=True)
class App:
    """An app (tenant) and how many keys it has."""

    id: int
    application_key: str
    name: str
    created_at: datetime
    limit_overrides: dict[str, Any]  # the app's own limits (``apps.limits``)
    live_keys: int
    revoked_keys: int


@dataclass(frozen=True)
class Grant:
    """What a live key allows: the app it acts for and its scopes."""

    key_id: int
    app_id: int
    application_key: str
    scopes: frozenset[str]
    limit_overrides: dict[str, Any]  # the app's own limits (``apps.limits``)


def hash_secret(secret: str) -> bytes:
    # API secrets are 256-bit random values, so a fast hash is enough: there is nothing to
    # brute-force, and a slow KDF would cost every request a few milliseconds.
    return hashlib.sha256(secret.encode()).digest()


def create_app(conn: psycopg.Connection[Any], name: str) -> str:
    app_key = "app_" + secrets.token_hex(12)
    conn.execute("INSERT INTO apps (app_key, name) VALUES (%s, %s)", (app_key, name))
    return app_key


def app_id_for(conn: psycopg.Connection[Any], app_key: str) -> int:
    row = conn.execute("SELECT id FROM apps WHERE app_key = %s", (app_key,)).fetchone()
    if row is None:
        raise UnknownApp(app_key)
    return int(row[0])


def create_key(conn: psycopg.Connection[Any], app_key: str, scopes: list[str]) -> NewKey:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise UnknownScope(", ".join(bad) or "no scope given")
    app_id = app_id_for(conn, app_key)
    secret = "pf_" + secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO api_keys (app_id, key_prefix, key_hash, scopes) VALUES (%s, %s, %s, %s)",
        (app_id, secret[:PREFIX_CHARS], hash_secret(secret), list(scopes)),
    )
    return NewKey(app_key, secret, tuple(scopes))


def list_apps(conn: psycopg.Connection[Any]) -> list[App]:
    """Every app, oldest first."""
    return [_app(r) for r in conn.execute(_APPS.format(where="")).fetchall()]


def get_app(conn: psycopg.Connection[Any], app_key: str) -> App:
    row = conn.execute(_APPS.format(where="WHERE a.app_key = %s"), (app_key,)).fetchone()
    if row is None:
        raise UnknownApp(app_key)
    return _app(row)


def _app(row: Any) -> App:
    return App(int(row[0]), row[1], row[2], row[3], row[4] or {}, int(row[5]), int(row[6]))


def list_keys(conn: psycopg.Connection[Any], app_key: str) -> list[ApiKey]:
    """The app's keys, revoked ones included, newest first."""
    app_id_for(conn, app_key)  # UnknownApp rather than an empty list
    return [ApiKey(int(r[0]), r[1], r[2], tuple(r[3]), r[4], r[5], r[6])
            for r in conn.execute(_LIST, (app_key,)).fetchall()]


def revoke_key(conn: psycopg.Connection[Any], secret_prefix: str, app_key: str, *,
               redis_url: str | None = None) -> int:
    """Revoke the app's live keys whose secret starts with ``secret_prefix``; how many. Committed
    before it returns (``conn`` must not be inside a transaction of the caller's), then, given
    ``redis_url``, announced so every API process refuses the key at once instead of within its
    key cache's lifetime."""
    with conn.transaction():
        app_id = app_id_for(conn, app_key)
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE app_id = %s AND key_prefix = %s"
            " AND revoked_at IS NULL",
            (app_id, secret_prefix[:PREFIX_CHARS]),
        )
    if cur.rowcount and redis_url is not None:
        announce(redis_url, app_key)
    return cur.rowcount


async def find_key(conn: psycopg.AsyncConnection[Any], app_key: str, secret: str
                   ) -> Grant | None:
    """The grant of a live key of the app, or None (unknown, another app's or revoked)."""
    cur = await conn.execute(_FIND, (hash_secret(secret), app_key))
    row = await cur.fetchone()
    if row is None:
        return None
    return Grant(int(row[0]), int(row[1]), str(row[2]), frozenset(row[3]), row[4] or {})


async def record_use(conn: psycopg.AsyncConnection[Any], key_ids: Sequence[int]) -> None:
    """Stamp ``last_used_at`` on these keys, unless stamped within the resolution already (so
    several API processes stamping the same key cost one row version a minute)."""
    await conn.execute(_RECORD_USE, (list(key_ids), LAST_USE_RESOLUTION_SECONDS))
