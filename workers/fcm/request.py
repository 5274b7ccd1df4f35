"""The FCM v1 ``messages:send`` request for one job: path, headers and JSON body, as firebase-admin
7.7.0 would send them (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send).

The body is firebase-admin's own encoding of a ``messaging.Message`` (its ``MessageEncoder``
validates every field and turns ``ttl`` into a duration), so our JSON stays the SDK's; the
headers are the SDK's too. The seams are guarded by tests/workers/fcm/test_firebase_guard.py.
"""

from __future__ import annotations

from typing import Any

import firebase_admin
import orjson
from firebase_admin import _utils, messaging

from shared.jobs import SendJob
from workers.fcm.message import build_message

SEND_PATH = "/v1/projects/{0}/messages:send"

# Sent by firebase-admin's messaging service on every request (messaging._MessagingService
# ``_fcm_headers`` and _http_client.METRICS_HEADERS). API format version 2 is what makes FCM put
# the ``google.firebase.fcm.v1.FcmError`` detail into error bodies (workers/fcm/errors.py).
SDK_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-goog-api-format-version", b"2"),
    (b"x-firebase-client", f"fire-admin-python/{firebase_admin.__version__}".encode()),
    (b"x-goog-api-client", _utils.get_metrics_header().encode()),
)


def encode_message(message: messaging.Message) -> dict[str, Any]:
    """firebase-admin's JSON for a message (raises ValueError on a field it would refuse)."""
    encoded: dict[str, Any] = messaging._MessagingService.encode_message(message)
    return encoded


def request_body(job: SendJob, now: float | None = None) -> bytes:
    return orjson.dumps({"message": encode_message(build_message(job, now))})


def request_headers(authority: bytes, project_id: str, access_token: str,
                    body_length: int) -> list[tuple[bytes, bytes]]:
    """Lowercase, valid headers (the connection skips h2's normalisation). All of them repeat
    for every request of an app, so HPACK indexes them: after the first request the ~200-byte
    OAuth token costs a byte or two."""
    return [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", authority),
        (b":path", SEND_PATH.format(project_id).encode()),
        (b"authorization", b"Bearer " + access_token.encode()),
        (b"content-type", b"application/json"),
        *SDK_HEADERS,
        (b"content-length", str(body_length).encode()),
    ]
