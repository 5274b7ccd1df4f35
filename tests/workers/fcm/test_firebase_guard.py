"""Guard: the private firebase-admin seams we rely on (workers/fcm/client.py) still exist and
still work. A new firebase-admin release that changes them fails here, not in production."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from firebase_admin import _http_client, messaging

from sandbox.testing import SandboxProcess
from shared.credentials import parse_fcm_service_account
from workers.delivery.testing import fcm_token
from workers.fcm.client import FirebaseApps


def test_pinned_version() -> None:
    import firebase_admin

    assert firebase_admin.__version__ == "7.7.0", "re-check workers/fcm/client.py seams, then pin"


def test_endpoint_and_client_seams(sandbox: SandboxProcess) -> None:
    original = messaging._MessagingService.FCM_URL
    try:
        apps = FirebaseApps(sandbox.fcm_url, sandbox.ca_file, 5)
        account = parse_fcm_service_account(sandbox.service_account_file.read_bytes())
        app = apps.app_for(account)
        service = messaging._get_messaging_service(app)
        assert service._fcm_url == (
            f"{sandbox.fcm_url}/v1/projects/{account.project_id}/messages:send")
        client = service._async_client._async_client
        assert isinstance(client, httpx.AsyncClient)
        assert isinstance(client.auth, _http_client.GoogleAuthCredentialFlow)
        # send_each_async must go through that client: only it trusts the sandbox's CA, so a
        # send that succeeds over TLS proves the seam is used (and OAuth via token_uri works).
        batch = asyncio.run(messaging.send_each_async(
            [messaging.Message(token=fcm_token(), data={"a": "1"})], app=app))
        assert batch.success_count == 1, batch.responses[0].exception
        assert "{0}" in original and original.startswith("https://fcm.googleapis.com/")
        assert orjson.loads(sandbox.service_account_file.read_bytes())["token_uri"].startswith(
            "http://127.0.0.1")
    finally:
        messaging._MessagingService.FCM_URL = original
