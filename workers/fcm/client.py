"""firebase-admin Apps per service account, pointed at ``fcm_url`` and trusting ``gateway_ca_file``.

firebase-admin 7.7.0 has no supported endpoint override. Two private seams, pinned in
pyproject.toml and guarded by tests/workers/fcm/test_firebase_guard.py:
- ``messaging._MessagingService.FCM_URL`` (class attribute, read when an App's messaging service
  is created) → our ``fcm_url`` origin;
- the service's ``_async_client._async_client`` (the ``httpx.AsyncClient`` that
  ``send_each_async`` uses) is replaced by one we build with the same Google OAuth auth flow but
  with OUR TLS trust (system + the sandbox CA), our timeout, and NO in-process retries: the SDK's
  own transport retries 500/503 with sleeps inside the request, while we retry through the queue.
The OAuth token comes from the service account's ``token_uri`` (the sandbox's in development).
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import firebase_admin
import httpx
from firebase_admin import _http_client, credentials, messaging

from shared.credentials import FcmServiceAccount

FCM_PATH = "/v1/projects/{0}/messages:send"


def install_endpoint(fcm_url: str) -> None:
    """Point every messaging service created from now on at ``fcm_url``."""
    messaging._MessagingService.FCM_URL = fcm_url.rstrip("/") + FCM_PATH


def trust_context(ca_file: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


class FirebaseApps:
    """One firebase-admin App (and so one HTTP/2 connection) per distinct service account."""

    def __init__(self, fcm_url: str, ca_file: Path | None, timeout: float) -> None:
        install_endpoint(fcm_url)
        self.ssl_context = trust_context(ca_file)
        self.timeout = timeout
        self._apps: dict[str, firebase_admin.App] = {}

    def app_for(self, account: FcmServiceAccount) -> firebase_admin.App:
        name = "pushflow-" + hashlib.sha256(account.secret()).hexdigest()[:20]
        app = self._apps.get(name)
        if app is None:
            app = firebase_admin.initialize_app(
                credentials.Certificate(account.info), {"httpTimeout": self.timeout}, name=name)
            self._wire(app)
            self._apps[name] = app
        return app

    def _wire(self, app: firebase_admin.App) -> None:
        service = messaging._get_messaging_service(app)
        service._async_client._async_client = httpx.AsyncClient(
            http2=True,
            verify=self.ssl_context,
            timeout=self.timeout,
            headers=dict(service._async_client._headers),
            auth=_http_client.GoogleAuthCredentialFlow(service._credential),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10),
        )

    async def close(self) -> None:
        # Not firebase_admin.delete_app(): its cleanup calls asyncio.run() inside our loop.
        for app in self._apps.values():
            service = messaging._get_messaging_service(app)
            await service._async_client._async_client.aclose()
        self._apps.clear()
