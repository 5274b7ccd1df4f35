"""firebase-admin 7.7.0 talks to the FCM sandbox (the workers own the real integration; this
only proves the sandbox speaks what the SDK expects, errors included)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import firebase_admin
import pytest
from firebase_admin import credentials, messaging

from sandbox.testing import SandboxProcess


@pytest.fixture()
def fcm_app(
    sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[firebase_admin.App]:
    # The SDK has no endpoint setting: the private class attribute is the seam.
    monkeypatch.setattr(
        messaging._MessagingService, "FCM_URL", sandbox.fcm_url + "/v1/projects/{0}/messages:send"
    )
    # requests reads REQUESTS_CA_BUNDLE (it beats Session.verify), httpx reads SSL_CERT_FILE.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.ca_file))
    cred = credentials.Certificate(str(sandbox.service_account_file))
    app = firebase_admin.initialize_app(cred, name=f"sandbox-{uuid.uuid4()}")
    yield app
    firebase_admin.delete_app(app)


def test_sync_send_and_unregistered(sandbox: SandboxProcess, fcm_app: firebase_admin.App) -> None:
    message = messaging.Message(
        token="fa-token",
        data={"k": "v"},
        notification=messaging.Notification(title="Hi", body="there"),
        android=messaging.AndroidConfig(priority="high", ttl=3600, collapse_key="c"),
        apns=messaging.APNSConfig(payload=messaging.APNSPayload(aps=messaging.Aps(badge=1))),
    )
    name = messaging.send(message, app=fcm_app)
    assert name.startswith("projects/pushflow-sandbox/messages/")
    with pytest.raises(messaging.UnregisteredError):
        messaging.send(messaging.Message(token="unregistered-fa"), app=fcm_app)
    assert sandbox.stats()["fcm"]["acceptedByToken"] == {"fa-token": 1}


async def test_async_send_each_maps_errors(
    sandbox: SandboxProcess, fcm_app: firebase_admin.App
) -> None:
    sandbox.add_fault(gateway="fcm", kind="sender_id_mismatch", match="mismatch")
    msgs = [
        messaging.Message(token=t, data={"k": "v"})
        for t in ("ok-1", "mismatch-1", "invalid-token-1")
    ]
    batch = await messaging.send_each_async(msgs, app=fcm_app)
    assert batch.responses[0].success
    assert isinstance(batch.responses[1].exception, messaging.SenderIdMismatchError)
    assert isinstance(batch.responses[2].exception, firebase_admin.exceptions.InvalidArgumentError)
    requests = sandbox.requests("fcm", token="ok-1")
    assert requests[0]["headers"].get("content-type", "").startswith("application/json")
