"""The ``campaign.finished`` webhook event: written in the transaction that marks the campaign
finished, for apps whose webhook configuration subscribes to it, delivered by the webhook
sender like every event (``workers/webhooks/sender.py``). It carries no dispatch or message."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shared.statuses import CAMPAIGN_FINISHED

_INSERT = """
INSERT INTO webhook_events (id, app_id, type, payload)
SELECT gen_random_uuid(), w.app_id, %(type)s::text, jsonb_build_object(
    'type', %(type)s::text,
    'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'data', %(data)s::jsonb)
FROM webhook_endpoints w
WHERE w.app_id = %(app)s AND %(type)s::text = ANY(w.event_types) AND w.primary_url IS NOT NULL
"""


async def campaign_finished(conn: AsyncConnection[Any], app_id: int, data: dict[str, Any]
                            ) -> None:
    """Queue the event (``data``: the campaign's id, name and final counts)."""
    await conn.execute(_INSERT, {"type": CAMPAIGN_FINISHED, "app": app_id, "data": Jsonb(data)})
