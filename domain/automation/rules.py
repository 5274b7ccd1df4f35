"""The rules store: an app's automation rules (create, list, read, replace, enable or disable,
delete) and the app's automation settings (the per-user daily cap). Rules are kept as the API
took them (``definition``, the ``RuleBody`` by its contract names) next to the columns the event
path selects on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from domain.automation.model import RuleBody
from shared.ids import new_id

_COLUMNS = "id::text, enabled, definition, created_at, updated_at"
_INSERT = f"""
INSERT INTO automation_rules (id, app_id, event_name, enabled, definition)
VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}
"""
_REPLACE = f"""
UPDATE automation_rules SET event_name = %s, enabled = %s, definition = %s, updated_at = now()
WHERE id = %s AND app_id = %s RETURNING {_COLUMNS}
"""
_ENABLE = f"""
UPDATE automation_rules SET enabled = %s,
    definition = jsonb_set(definition, '{{enabled}}', to_jsonb(%s::boolean)), updated_at = now()
WHERE id = %s AND app_id = %s RETURNING {_COLUMNS}
"""
_GET = f"SELECT {_COLUMNS} FROM automation_rules WHERE id = %s AND app_id = %s"
_DELETE = f"DELETE FROM automation_rules WHERE id = %s AND app_id = %s RETURNING {_COLUMNS}"
_LIST = f"""
SELECT {_COLUMNS} FROM automation_rules WHERE app_id = %s
ORDER BY created_at DESC, id OFFSET %s LIMIT %s
"""
_CAP = "SELECT daily_cap FROM automation_settings WHERE app_id = %s"
_SET_CAP = """
INSERT INTO automation_settings (app_id, daily_cap) VALUES (%s, %s)
ON CONFLICT (app_id) DO UPDATE SET daily_cap = excluded.daily_cap, updated_at = now()
"""


@dataclass(frozen=True)
class StoredRule:
    id: str
    enabled: bool
    rule: RuleBody
    created_at: datetime
    updated_at: datetime


def _stored(row: Sequence[Any]) -> StoredRule:
    return StoredRule(row[0], bool(row[1]), RuleBody.model_validate(row[2]),
                      row[3], row[4])


def _as_json(rule: RuleBody) -> Jsonb:
    return Jsonb(rule.model_dump(mode="json", by_alias=True, exclude_none=True))


def _id(rule_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(rule_id)
    except ValueError:
        return None


async def create(conn: AsyncConnection[Any], app_id: int, rule: RuleBody) -> StoredRule:
    row = await (await conn.execute(_INSERT, (new_id(), app_id, rule.event, rule.enabled,
                                              _as_json(rule)))).fetchone()
    assert row is not None  # an INSERT ... RETURNING returns its row
    return _stored(row)


async def _one(conn: AsyncConnection[Any], sql: str, *params: Any) -> StoredRule | None:
    row = await (await conn.execute(sql, params)).fetchone()
    return _stored(row) if row is not None else None


async def replace(conn: AsyncConnection[Any], app_id: int, rule_id: str, rule: RuleBody
                  ) -> StoredRule | None:
    rid = _id(rule_id)
    if rid is None:
        return None
    return await _one(conn, _REPLACE, rule.event, rule.enabled, _as_json(rule), rid, app_id)


async def set_enabled(conn: AsyncConnection[Any], app_id: int, rule_id: str, enabled: bool
                      ) -> StoredRule | None:
    rid = _id(rule_id)
    return None if rid is None else await _one(conn, _ENABLE, enabled, enabled, rid, app_id)


async def get(conn: AsyncConnection[Any], app_id: int, rule_id: str) -> StoredRule | None:
    rid = _id(rule_id)
    return None if rid is None else await _one(conn, _GET, rid, app_id)


async def delete(conn: AsyncConnection[Any], app_id: int, rule_id: str) -> StoredRule | None:
    rid = _id(rule_id)
    return None if rid is None else await _one(conn, _DELETE, rid, app_id)


async def list_rules(conn: AsyncConnection[Any], app_id: int, *, offset: int, limit: int
                     ) -> list[StoredRule]:
    rows = await (await conn.execute(_LIST, (app_id, offset, limit))).fetchall()
    return [_stored(r) for r in rows]


async def daily_cap(conn: AsyncConnection[Any], app_id: int) -> int | None:
    row = await (await conn.execute(_CAP, (app_id,))).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


async def set_daily_cap(conn: AsyncConnection[Any], app_id: int, cap: int | None) -> None:
    await conn.execute(_SET_CAP, (app_id, cap))


_LAST_FIRED = """
SELECT r.id, (SELECT max(m.created_at) FROM messages m
              WHERE m.app_id = %s AND m.source = 'automation' AND m.source_ref = r.id)
FROM unnest(%s::text[]) AS r(id)
"""


async def last_fired(conn: AsyncConnection[Any], app_id: int, rule_ids: Sequence[str]
                     ) -> dict[str, datetime | None]:
    """When each rule last created a message (its pushes carry ``source_ref`` = its id)."""
    rows = await (await conn.execute(_LAST_FIRED, (app_id, list(rule_ids)))).fetchall()
    return {row[0]: row[1] for row in rows}
