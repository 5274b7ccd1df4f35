"""An app's limits for pushes that do not come through an API key (the panel's test push and
resend): the settings' defaults with the app's own overrides, as ``producer.auth`` gives a key's
caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from shared.payload import Limits
from shared.settings import Settings


@dataclass(frozen=True)
class AppSender:
    """An app as ``domain.messages.submit`` needs it (a ``SendingApp``)."""

    app_id: int
    limits: Limits


async def app_sender(conn: AsyncConnection[Any], app_id: int, settings: Settings) -> AppSender:
    row = await (await conn.execute("SELECT limits FROM apps WHERE id = %s", (app_id,))
                 ).fetchone()
    return AppSender(app_id, Limits.from_settings(settings, row[0] if row else None))
