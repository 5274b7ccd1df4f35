"""The device registry: an app's registered tokens, each with user, language and tags.

A registration is the device's full state (omitted user, language and tags are cleared) and
stamps ``registered_at = now()``. A token is invalid while ``invalidated_at > registered_at``, so
registering a token again after a gateway reported it dead makes it valid again; the DLR
(``domain.dispatches.record``) only invalidates devices registered before the gateway's
timestamp. Tokens first seen in a gateway report (never registered) carry ``registered_at =
epoch``: ``Device.registered_at`` is None for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from shared.tokens import Platform

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = ("token, platform, user_id, language, tags, registered_at, invalidated_at,"
            " invalid_reason, time_zone")
_UPSERT = f"""
INSERT INTO devices (app_id, token, platform, user_id, language, tags, time_zone,
                     registered_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (app_id, token) DO UPDATE SET platform = excluded.platform,
    user_id = excluded.user_id, language = excluded.language, tags = excluded.tags,
    time_zone = excluded.time_zone, registered_at = now()
RETURNING {_COLUMNS}, xmax = 0
"""
_DELETE = f"DELETE FROM devices WHERE app_id = %s AND token = %s RETURNING {_COLUMNS}"
_CONDITIONS = {"user_id": "user_id = %(user_id)s", "platform": "platform = %(platform)s",
               "tag": "tags @> ARRAY[%(tag)s]::text[]", "token": "token = %(token)s"}
# What the intake needs to know of a token: the platform it is registered under, and whether a
# gateway reported it dead since it was (last) registered.
_VERDICTS = """
SELECT token, platform, invalidated_at IS NOT NULL AND registered_at < invalidated_at
FROM devices WHERE app_id = %s AND token = ANY(%s)
"""
# The valid devices of some users, or among some tokens (automation's and ``userIds``' targets).
_VALID = " AND (invalidated_at IS NULL OR invalidated_at <= registered_at)"
_OF_USERS = f"SELECT {_COLUMNS} FROM devices WHERE app_id = %s AND user_id = ANY(%s)" + _VALID
_OF_TOKENS = f"SELECT {_COLUMNS} FROM devices WHERE app_id = %s AND token = ANY(%s)"
_ONE = f"SELECT {_COLUMNS} FROM devices WHERE app_id = %s AND token = %s"


@dataclass(frozen=True)
class Registration:
    token: str
    platform: Platform
    user_id: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    time_zone: str | None = None  # IANA name, for automation's quiet hours


@dataclass(frozen=True)
class Device:
    token: str
    platform: str
    user_id: str | None
    language: str | None
    tags: list[str]
    registered_at: datetime | None  # None: only ever seen in a gateway's report
    invalidated_at: datetime | None
    invalid_reason: str | None
    time_zone: str | None = None

    @property
    def valid(self) -> bool:
        return self.invalidated_at is None or (
            self.registered_at is not None and self.invalidated_at <= self.registered_at)


@dataclass(frozen=True)
class DeviceFilter:
    user_id: str | None = None
    platform: str | None = None
    tag: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A registered token as the intake sees it."""

    platform: Platform
    invalidated: bool  # a gateway reported it dead after it was registered


def _device(row: Sequence[Any]) -> Device:
    registered = row[5] if row[5] is not None and row[5] > _EPOCH else None
    return Device(token=row[0], platform=row[1], user_id=row[2], language=row[3],
                  tags=list(row[4]), registered_at=registered, invalidated_at=row[6],
                  invalid_reason=row[7], time_zone=row[8])


async def register(conn: AsyncConnection[Any], app_id: int, r: Registration
                   ) -> tuple[Device, bool]:
    """Register (or register again) a token; the device and whether it is new."""
    row = await (await conn.execute(_UPSERT, (
        app_id, r.token, r.platform, r.user_id, r.language, list(dict.fromkeys(r.tags)),
        r.time_zone))).fetchone()
    assert row is not None  # an upsert always returns its row
    return _device(row), bool(row[9])


async def find_device(conn: AsyncConnection[Any], app_id: int, token: str) -> Device | None:
    """The app's row of this token, registered or only reported dead (valid or not)."""
    row = await (await conn.execute(_ONE, (app_id, token))).fetchone()
    return _device(row) if row is not None else None


async def forget(conn: AsyncConnection[Any], app_id: int, token: str) -> Device | None:
    """Delete the app's device; what it was, or None when there was none."""
    row = await (await conn.execute(_DELETE, (app_id, token))).fetchone()
    return _device(row) if row is not None else None


async def list_devices(conn: AsyncConnection[Any], app_id: int, f: DeviceFilter, *, offset: int,
                       limit: int) -> list[Device]:
    """The app's devices, most recently registered first."""
    filters = {field.name: getattr(f, field.name) for field in fields(f)}
    sql = f"SELECT {_COLUMNS} FROM devices WHERE app_id = %(app_id)s" + "".join(
        f" AND {_CONDITIONS[k]}" for k, v in filters.items() if v is not None)
    sql += " ORDER BY registered_at DESC, token OFFSET %(offset)s LIMIT %(limit)s"
    rows = await (await conn.execute(sql.encode(), {
        **filters, "app_id": app_id, "offset": offset, "limit": limit})).fetchall()
    return [_device(r) for r in rows]


async def verdicts(conn: AsyncConnection[Any], app_id: int, tokens: Sequence[str]
                   ) -> dict[str, Verdict]:
    """The registered ones among ``tokens``, by token."""
    cur = await conn.execute(_VERDICTS, (app_id, list(tokens)))
    return {row[0]: Verdict(row[1], bool(row[2])) for row in await cur.fetchall()}


async def devices_of_users(conn: AsyncConnection[Any], app_id: int, user_ids: Sequence[str]
                           ) -> list[Device]:
    """The valid registered devices of these users."""
    cur = await conn.execute(_OF_USERS, (app_id, list(user_ids)))
    return [_device(row) for row in await cur.fetchall()]


async def devices_of_tokens(conn: AsyncConnection[Any], app_id: int, tokens: Sequence[str]
                            ) -> dict[str, Device]:
    """The registered ones among ``tokens`` (valid or not), by token."""
    cur = await conn.execute(_OF_TOKENS, (app_id, list(tokens)))
    return {row[0]: _device(row) for row in await cur.fetchall()}
