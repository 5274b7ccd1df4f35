"""Verify a Pushflow webhook (Standard Webhooks): with the `standardwebhooks` package when it is
installed, or by hand with the standard library - both shown, they agree.

    signed = f"{webhook-id}.{webhook-timestamp}.{raw body}"
    signature = base64(HMAC-SHA256(base64decode(secret without "whsec_"), signed))
    header webhook-signature: "v1,<signature>" (space-separated when several secrets sign,
    e.g. during a rotation)

Reject timestamps more than 5 minutes away from now (replays), and compare in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 5 * 60


class InvalidWebhook(Exception):
    pass


def verify_by_hand(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidWebhook("timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise InvalidWebhook("no matching signature")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> object:
    """The parsed event when valid; raises otherwise."""
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError:
        import json

        verify_by_hand(secret, headers, body)
        return json.loads(body)
    return Webhook(secret).verify(body, dict(headers))
