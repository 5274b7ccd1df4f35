"""The FCM v1 ``messages:send`` request for one job: path, headers and JSON body, as firebase-admin
7.7.0 would send them (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send).

The body is ``shared.gateway_payloads.fcm_body`` (around ``fcm_message``, the one FCM encoder: the
size rule measures the same function's output; the dispatch story rebuilds it); the headers are
the SDK's. That both still match what firebase-admin would send is checked by
tests/workers/fcm/test_firebase_guard.py, the only place its private encoder is called.
"""

from __future__ import annotations

from platform import python_version

import firebase_admin

from shared.gateway_payloads import fcm_body
from shared.jobs import SendJob

SEND_PATH = "/v1/projects/{0}/messages:send"

# Sent by firebase-admin's messaging service on every request (messaging._MessagingService
# ``_fcm_headers`` and _http_client.METRICS_HEADERS). API format version 2 is what makes FCM put
# the ``google.firebase.fcm.v1.FcmError`` detail into error bodies (workers/fcm/errors.py).
SDK_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-goog-api-format-version", b"2"),
    (b"x-firebase-client", f"fire-admin-python/{firebase_admin.__version__}".encode()),
    (b"x-goog-api-client",
     f"gl-python/{python_version()} fire-admin/{firebase_admin.__version__}".encode()),
)


def request_body(job: SendJob, now: float | None = None) -> bytes:
    return fcm_body(job["message"], job["token"], job.get("ttl"), now)


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
