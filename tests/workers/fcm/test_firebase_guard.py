"""Guard: the firebase-admin seams workers/fcm relies on still exist and still do what we expect.
A new firebase-admin release that changes them fails here, not in production.

We use firebase-admin for the service-account credential and its OAuth2 token
(``credentials.Certificate(info).get_access_token()``, workers/fcm/oauth.py) and for the message
JSON (``messaging._MessagingService.encode_message``, private, workers/fcm/request.py), and send
its headers to its URL path ourselves over raw h2.
"""

from __future__ import annotations

import datetime
import secrets
import time

import firebase_admin
import pytest
from firebase_admin import _http_client, credentials, messaging

from sandbox.testing import SandboxProcess
from shared.credentials import parse_fcm_service_account
from workers.delivery.testing import fcm_token, make_job
from workers.fcm.message import build_message
from workers.fcm.request import SDK_HEADERS, SEND_PATH, encode_message


def test_pinned_version() -> None:
    assert firebase_admin.__version__ == "7.7.0", "re-check workers/fcm/ seams, then pin"


def test_encoder_produces_the_v1_message_json() -> None:
    token = fcm_token()
    now = time.time()
    job = make_job(1, "android", token, ttl=int(now) + 3600, priority="normal", badge=2,
                   sound="default", collapseKey="order-42", data={"orderId": "42"},
                   image="https://example.com/a.png")
    assert encode_message(build_message(job, now=int(now))) == {
        "token": token,
        "notification": {"title": "Hello", "body": "Your code is 123456",
                         "image": "https://example.com/a.png"},
        "android": {"priority": "normal", "ttl": "3600s", "collapse_key": "order-42",
                    "notification": {"sound": "default", "notification_count": 2}},
        "data": {"orderId": "42"},
    }
    silent = encode_message(build_message(make_job(1, "android", token, silent=True)))
    assert "notification" not in silent and silent["android"] == {"priority": "high"}


def test_encoder_refuses_what_fcm_would_refuse() -> None:
    bad = messaging.Message(token=fcm_token(), android=messaging.AndroidConfig(priority="now"))
    with pytest.raises(ValueError, match="priority"):
        encode_message(bad)


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
        assert service._fcm_url.endswith(SEND_PATH.format(account.project_id))
    finally:
        firebase_admin.delete_app(app)


def test_certificate_gives_an_access_token_from_token_uri(sandbox: SandboxProcess) -> None:
    account = parse_fcm_service_account(sandbox.service_account_file.read_bytes())
    assert account.info["token_uri"].startswith(sandbox.oauth_url)
    issued = sandbox.stats()["oauth"]["tokensIssued"]
    info = credentials.Certificate(account.info).get_access_token()
    assert isinstance(info.access_token, str) and info.access_token
    # A naive UTC datetime about an hour ahead (workers/fcm/oauth.py reads it so).
    assert isinstance(info.expiry, datetime.datetime) and info.expiry.tzinfo is None
    left = info.expiry.replace(tzinfo=datetime.UTC).timestamp() - time.time()
    assert 3000 < left <= 3600
    assert sandbox.stats()["oauth"]["tokensIssued"] == issued + 1
