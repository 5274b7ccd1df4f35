"""A device token's whole life for the panel's device page: its registration (user, language,
tags), its last successful dispatch, and, when a gateway reported it dead, when (the gateway's
timestamp) and which dispatch brought that answer. Every dispatch to it is a search by token
(``domain.dispatches.search``). Scoped by app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from domain.devices.registry import Device, find_device
from shared.statuses import TOKEN_DEAD_REASONS

# Both on dispatches_app_token (app_id, device_token, created_at DESC).
_LAST_SUCCESS = """
SELECT id::text, status, updated_at FROM dispatches
WHERE app_id = %s AND device_token = %s AND status IN ('sent', 'delivered', 'opened')
ORDER BY created_at DESC LIMIT 1
"""
# The dispatch whose failure reported the token dead: the first one after its registration
# (any, for a token never registered).
_INVALIDATING = """
SELECT id::text, reason, updated_at FROM dispatches
WHERE app_id = %s AND device_token = %s AND status = 'failed' AND reason = ANY(%s)
  AND created_at >= coalesce(%s::timestamptz, '-infinity')
ORDER BY created_at LIMIT 1
"""


@dataclass(frozen=True)
class DispatchRef:
    id: str
    status_or_reason: str
    at: datetime


@dataclass(frozen=True)
class DeviceStory:
    token: str
    device: Device | None  # None: never registered and never reported dead
    last_success: DispatchRef | None
    invalidated_by: DispatchRef | None  # the dispatch that brought the gateway's rejection


async def device_story(conn: AsyncConnection[Any], app_id: int, token: str) -> DeviceStory:
    device = await find_device(conn, app_id, token)
    success = await (await conn.execute(_LAST_SUCCESS, (app_id, token))).fetchone()
    invalidating = None
    if device is not None and not device.valid:
        invalidating = await (await conn.execute(_INVALIDATING, (
            app_id, token, sorted(TOKEN_DEAD_REASONS), device.registered_at))).fetchone()
    return DeviceStory(token, device, DispatchRef(*success) if success else None,
                       DispatchRef(*invalidating) if invalidating else None)
