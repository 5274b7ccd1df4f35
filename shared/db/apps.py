"""Apps (tenants) and their API keys. Keys are random secrets stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg

SCOPES = ("push:send", "push:read", "events:send", "campaigns:write", "receipts:write", "admin")


class UnknownScope(ValueError):
    pass


class UnknownApp(LookupError):
    pass


@dataclass(frozen=True)
class NewKey:
    application_key: str
    secret: str
    scopes: tuple[str, ...]


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
        (app_id, secret[:10], hash_secret(secret), list(scopes)),
    )
    return NewKey(app_key, secret, tuple(scopes))


def revoke_key(conn: psycopg.Connection[Any], secret_prefix: str, app_key: str) -> int:
    app_id = app_id_for(conn, app_key)
    cur = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE app_id = %s AND key_prefix = %s"
        " AND revoked_at IS NULL",
        (app_id, secret_prefix[:10]),
    )
    return cur.rowcount
