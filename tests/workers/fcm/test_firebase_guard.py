"""Guard: the firebase-admin seams workers/fcm relies on still exist and still do what we expect.
A new firebase-admin release that changes them fails here, not in production.

We use firebase-admin for the service-account credential and its OAuth2 token
(``credentials.Certificate(info).get_credential()`` refreshed by google-auth,
workers/fcm/oauth.py), and send its
headers to its URL path ourselves over raw h2 (workers/fcm/request.py). The body is our own
encoder (``shared.gateway_payloads.fcm_message``, which the size rule measures too); this is the
one place firebase-admin's private encoder (``messaging._MessagingService.encode_message``) is
called, to check that ours writes exactly what the SDK would.
"""

from __future__ import annotations

import datetime
import platform
import secrets
import time
from typing import Any

import firebase_admin
import pytest
from firebase_admin import _http_client, _utils, credentials, messaging
from google.auth.transport.requests import Request

from sandbox.testing import SandboxProcess
from shared.credentials import parse_fcm_service_account
from shared.gateway_payloads import FCM_MAX_TTL_SECONDS, fcm_message
from shared.jobs import SendJob
from workers.delivery.testing import fcm_token, make_job
from workers.fcm.oauth import token_session
from workers.fcm.request import SDK_HEADERS, SEND_PATH


def sdk_message(job: SendJob, now: float) -> messaging.Message:
    """The job as a firebase-admin ``messaging.Message``, built as its documentation says."""
    m = job["message"]
    android_notification = notification = None
    if not m.get("silent"):
        notification = messaging.Notification(title=m.get("title"), body=m.get("content"),
                                              image=m.get("image"))
        if m.get("sound") or "badge" in m:
            android_notification = messaging.AndroidNotification(
                sound=m.get("sound"), notification_count=m.get("badge"))
    ttl = None if job["ttl"] is None else max(0, int(job["ttl"] - now))
    android = messaging.AndroidConfig(
        priority="high" if m.get("priority", "high") == "high" else "normal",
        ttl=ttl, collapse_key=m.get("collapseKey"), notification=android_notification)
    return messaging.Message(token=job["token"], notification=notification, android=android,
                             data=dict(m["data"]) if m.get("data") else None)


def sdk_encoding(job: SendJob, now: float) -> dict[str, Any]:
    encoded: dict[str, Any] = messaging._MessagingService.encode_message(sdk_message(job, now))
    return encoded


def test_pinned_version() -> None:
    assert firebase_admin.__version__ == "7.7.0", "re-check workers/fcm/ seams, then pin"


MESSAGES: list[dict[str, Any]] = [
    {}, {"silent": True}, {"silent": True, "badge": 2, "sound": "s", "data": {"k": "v"}},
    {"badge": 0}, {"sound": "default"}, {"priority": "normal"}, {"collapseKey": "order-42"},
    {"data": {"orderId": "42", "x": ""}}, {"image": "https://example.com/a.png"},
    {"priority": "normal", "badge": 2, "sound": "default", "collapseKey": "c",
     "data": {"orderId": "42"}, "image": "https://example.com/a.png"},
]


@pytest.mark.parametrize("fields", MESSAGES)
@pytest.mark.parametrize("ttl_ahead", [None, 0, 3600])
def test_our_encoder_writes_what_the_sdk_would(fields: dict[str, Any],
                                               ttl_ahead: int | None) -> None:
    now = int(time.time())
    job = make_job(1, "android", fcm_token(), ttl=None if ttl_ahead is None else now + ttl_ahead,
                   **fields)
    ours = fcm_message(job["message"], token=job["token"], ttl=job["ttl"], now=now)
    assert ours == sdk_encoding(job, now)


def test_the_sdk_agrees_with_the_ttl_clamp() -> None:
    now = int(time.time())
    job = make_job(1, "android", fcm_token(), ttl=now + 40 * 86400)
    clamped = fcm_message(job["message"], token=job["token"], ttl=job["ttl"], now=now)
    assert clamped["android"]["ttl"] == f"{FCM_MAX_TTL_SECONDS}s"
    assert clamped == sdk_encoding({**job, "ttl": now + FCM_MAX_TTL_SECONDS}, now)


def test_sdk_url_and_headers_are_what_we_send(sandbox: SandboxProcess) -> None:
    assert messaging._MessagingService.FCM_URL == "https://fcm.googleapis.com" + SEND_PATH
    account = parse_fcm_service_account(sandbox.service_account_file.read_bytes())
    app = firebase_admin.initialize_app(credentials.Certificate(account.info),
                                        name="guard-" + secrets.token_hex(4))
    try:
        service = messaging._get_messaging_service(app)
        sdk = {k.lower(): v for k, v in {**service._fcm_headers,
                                         **_http_client.METRICS_HEADERS}.items()}
        assert sdk == {k.decode(): v.decode() for k, v in SDK_HEADERS}
        assert _utils.get_metrics_header() == \
            f"gl-python/{platform.python_version()} fire-admin/{firebase_admin.__version__}"
        assert service._fcm_url.endswith(SEND_PATH.format(account.project_id))
    finally:
        firebase_admin.delete_app(app)


def test_certificate_gives_an_access_token_from_token_uri(sandbox: SandboxProcess) -> None:
    # What workers/fcm/oauth.py does: refresh the certificate's google-auth credential through
    # its own session (so PUSHFLOW_GATEWAY_CA_FILE applies) and read token and expiry.
    account = parse_fcm_service_account(sandbox.service_account_file.read_bytes())
    assert account.info["token_uri"].startswith(sandbox.oauth_url)
    issued = sandbox.stats()["oauth"]["tokensIssued"]
    google_credential = credentials.Certificate(account.info).get_credential()
    google_credential.refresh(Request(token_session(sandbox.ca_file)))
    assert isinstance(google_credential.token, str) and google_credential.token
    # A naive UTC datetime about an hour ahead (workers/fcm/oauth.py reads it so).
    expiry = google_credential.expiry
    assert isinstance(expiry, datetime.datetime) and expiry.tzinfo is None
    left = expiry.replace(tzinfo=datetime.UTC).timestamp() - time.time()
    assert 3000 < left <= 3600
    assert sandbox.stats()["oauth"]["tokensIssued"] == issued + 1
