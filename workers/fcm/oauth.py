"""OAuth2 access tokens for FCM v1, per service account, from firebase-admin's credential.

``firebase_admin.credentials.Certificate(info).get_credential()`` is google-auth's service-account
credential; refreshing it signs the JWT assertion and exchanges it at the account's ``token_uri``
(Google's; the sandbox's in development) — a blocking ``requests`` call, made here through our
own session so the token endpoint is trusted like every other connection to a gateway: the
system CAs plus ``PUSHFLOW_GATEWAY_CA_FILE``. It runs in the loop's default executor, never on
the event loop; at most one refresh per account is under way (``shared.singleflight``: the others
wait for its result);
and a token is reused until ``REFRESH_MARGIN_SECONDS`` before it expires (Google issues them for
an hour), so a busy worker refreshes about once an hour per account, not per request.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from firebase_admin import credentials
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request
from requests.adapters import HTTPAdapter

from shared.credentials import FcmServiceAccount
from shared.singleflight import SingleFlight

# google-auth refreshes 3 min 45 s early; a little more leaves room for a slow token endpoint.
REFRESH_MARGIN_SECONDS = 300.0
# After a failed refresh, sends of that account fail at once for this long instead of queueing
# one more blocking attempt each behind the lock (google-auth waits up to 120 s per attempt).
FAILURE_MEMORY_SECONDS = 5.0
MAX_REMEMBERED_OBJECTS = 1000


class OAuthFailed(Exception):
    """No access token. ``refused``: the token endpoint turned the credential down (a revoked or
    deleted key: a credentials problem); otherwise it could not be reached (retry later)."""

    def __init__(self, detail: str, *, refused: bool) -> None:
        super().__init__(detail)
        self.refused = refused


@dataclass
class _Account:
    certificate: credentials.Certificate
    token: str = ""
    good_until: float = 0.0  # time.monotonic() after which the token is refreshed first
    failure: OAuthFailed | None = None
    failed_until: float = 0.0

    def fresh(self) -> bool:
        return bool(self.token) and time.monotonic() < self.good_until


class _TrustingAdapter(HTTPAdapter):
    """HTTPS with the system CAs plus ``ca_file`` (requests' ``verify`` takes one bundle only,
    which would drop the system CAs)."""

    def __init__(self, ca_file: Path) -> None:
        self._context = ssl.create_default_context()
        self._context.load_verify_locations(cafile=str(ca_file))
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def token_session(ca_file: Path | None) -> requests.Session:
    """The HTTP session of token requests, trusting ``ca_file`` too when given."""
    session = requests.Session()
    if ca_file is not None:
        session.mount("https://", _TrustingAdapter(ca_file))
    return session


class AccessTokens:
    def __init__(self, ca_file: Path | None = None) -> None:
        self._request = Request(token_session(ca_file))
        self._accounts: dict[str, _Account] = {}
        self._refreshes: SingleFlight[int, None] = SingleFlight()  # by id() of the _Account
        # Hashing the service account per send was 3 % of a worker's CPU: remember the entry of
        # each credential object (the app config cache reuses one for a minute); the object is
        # kept so its id cannot be reused by another, and the map is bounded.
        self._by_object: dict[int, tuple[FcmServiceAccount, _Account]] = {}

    def _account(self, account: FcmServiceAccount) -> _Account:
        known = self._by_object.get(id(account))
        if known is not None and known[0] is account:
            return known[1]
        key = hashlib.sha256(account.secret()).hexdigest()
        entry = self._accounts.get(key)
        if entry is None:
            entry = self._accounts[key] = _Account(credentials.Certificate(account.info))
        if len(self._by_object) >= MAX_REMEMBERED_OBJECTS:
            self._by_object.clear()
        self._by_object[id(account)] = (account, entry)
        return entry

    async def token(self, account: FcmServiceAccount) -> str:
        entry = self._account(account)
        if not entry.fresh():
            await self._refreshes.run(id(entry), lambda: self._refresh(entry))
        return entry.token

    async def refresh(self, account: FcmServiceAccount, failed: str) -> str:
        """A new token after FCM refused ``failed`` (401): refreshed once however many sends
        saw the same refusal at the same time."""
        entry = self._account(account)
        if entry.token == failed or not entry.fresh():
            await self._refreshes.run(id(entry), lambda: self._refresh(entry))
        return entry.token

    async def _refresh(self, entry: _Account) -> None:
        if entry.failure is not None and time.monotonic() < entry.failed_until:
            raise OAuthFailed(str(entry.failure), refused=entry.failure.refused)
        loop = asyncio.get_running_loop()
        failure: OAuthFailed | None
        try:
            token, expiry = await loop.run_in_executor(None, self._fetch, entry.certificate)
        except auth_exceptions.RefreshError as exc:
            # google-auth marks 5xx and "temporarily unavailable" answers retryable.
            failure = OAuthFailed(f"token endpoint: {exc}", refused=not exc.retryable)
        except (auth_exceptions.TransportError, OSError) as exc:
            failure = OAuthFailed(f"token endpoint unreachable: {exc}", refused=False)
        else:
            failure = None
        if failure is not None:
            entry.failure, entry.failed_until = failure, time.monotonic() + FAILURE_MEMORY_SECONDS
            raise failure
        entry.failure = None
        entry.token = token
        left = _seconds_left(expiry)
        entry.good_until = time.monotonic() + left - min(REFRESH_MARGIN_SECONDS, left / 2)

    def _fetch(self, certificate: credentials.Certificate
               ) -> tuple[str, datetime.datetime | None]:
        """A new token and its expiry (blocking: run in an executor)."""
        google_credential = certificate.get_credential()
        google_credential.refresh(self._request)
        return str(google_credential.token), google_credential.expiry

    def forget(self) -> None:
        self._accounts.clear()
        self._by_object.clear()


def _seconds_left(expiry: datetime.datetime | None) -> float:
    """google-auth's ``expiry`` is a naive UTC datetime (None: no expiry given)."""
    if expiry is None:
        return 3600.0
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=datetime.UTC)
    return expiry.timestamp() - time.time()
