"""An app as ``domain.messages.submit`` needs it for pushes that do not come through an API key
(the panel's test push and resend): its id and its limits, the settings' defaults with the app's
own overrides (``domain.keys.limits``), as ``producer.auth`` gives a key's caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from domain.keys.limits import get_limits
from shared.payload import Limits
from shared.settings import Settings


@dataclass(frozen=True)
class AppSender:
    """A ``domain.messages.submit.SendingApp``."""

    app_id: int
    limits: Limits


async def app_sender(conn: AsyncConnection[Any], app_id: int, settings: Settings) -> AppSender:
    own = await get_limits(conn, app_id)
    return AppSender(app_id, Limits.from_settings(settings, own.overrides))
