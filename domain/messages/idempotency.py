"""Idempotency keys: a repeated submission with the same key and the same body gets the first
answer and creates nothing; the same key with another body is a conflict.

The answer is stored with the key in the statement that stores the message
(``domain.messages.rows.insert_idempotent``), as the caller rendered it, so a repeat gets it
byte for byte, ids included. Keys live ``idempotency_ttl_hours``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg import AsyncConnection

_LOOKUP = """
SELECT request_hash, status_code, response FROM idempotency_keys
WHERE app_id = %s AND key = %s AND created_at >= now() - make_interval(hours => %s)
"""
_PURGE = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)"


class IdempotencyConflict(Exception):
    """The key was used with a different body."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class StoredAnswer:
    """The first submission's answer, for a repeat."""

    status_code: int
    body: Any  # JSON, as the first caller rendered it


def body_hash(body: Any) -> bytes:
    """What makes two bodies "the same": equal JSON, whatever the order of object keys."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()


async def stored_answer(conn: AsyncConnection[Any], app_id: int, key: str, request_hash: bytes,
                        ttl_hours: int) -> StoredAnswer | None:
    """The stored answer for a live key, None for a new (or expired) one; IdempotencyConflict
    when the key was used with another body."""
    cur = await conn.execute(_LOOKUP, (app_id, key, ttl_hours))
    row = await cur.fetchone()
    if row is None:
        return None
    if bytes(row[0]) != request_hash:
        raise IdempotencyConflict(key)
    return StoredAnswer(int(row[1]), row[2])


async def purge_expired(conn: AsyncConnection[Any], ttl_hours: int) -> None:
    await conn.execute(_PURGE, (ttl_hours,))
