"""The FCM gateway (``workers.delivery.gateway.Gateway``): one FCM v1 ``messages:send`` request
per token over the shared raw-h2 client (workers/h2client), many in flight at once on
long-lived connections, each answer classified by the FCM error table.

firebase-admin supplies what it is good at: the service-account credential and its OAuth2 tokens
(workers/fcm/oauth.py) and the SDK's request headers (workers/fcm/request.py). Its own sending path
(``send_each_async``, httpx) is not used: it cost ~2.2 ms of CPU per token against ~0.4 ms here
(docs/delivery.md).
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.credentials import FcmServiceAccount
from shared.jobs import GatewayResponse, SendJob
from shared.settings import Settings
from workers.delivery.appconfig import AppConfig
from workers.delivery.classes import Kind, outcome_for
from workers.delivery.outcomes import Accepted, Outcome, Retry
from workers.fcm.errors import QUOTA_FLOOR_CODES, classify, error_details
from workers.fcm.oauth import AccessTokens, OAuthFailed
from workers.fcm.request import request_body, request_headers
from workers.h2client import ConnectionLost, ConnectionPool, Response, tls_context


class FcmGateway:
    name = "fcm"

    def __init__(self, settings: Settings, redis: Redis[bytes]) -> None:
        self.settings = settings
        self.tokens = AccessTokens(settings.gateway_ca_file)  # the token endpoint too
        # Every app shares the connections to the origin: the OAuth token travels per request.
        self.pool = ConnectionPool(settings.fcm_url, tls_context(settings.gateway_ca_file),
                                   settings.fcm_connections, settings.send_timeout_seconds)

    async def send(self, config: AppConfig, job: SendJob) -> Outcome:
        cred = config.credential
        assert isinstance(cred, FcmServiceAccount)
        body = request_body(job)
        try:
            access_token = await self.tokens.token(cred)
        except OAuthFailed as exc:
            return _oauth_failure(exc)
        for refreshed in (False, True):
            headers = request_headers(self.pool.authority, cred.project_id, access_token,
                                      len(body))
            try:
                resp = await self.pool.request(headers, body, self.settings.send_timeout_seconds)
            except ConnectionLost as exc:  # connection loss, GOAWAY, stream reset
                return Retry(GatewayResponse(status=0, reason="ConnectionLost", detail=str(exc)))
            except TimeoutError as exc:
                return Retry(GatewayResponse(status=0, reason="Timeout", detail=str(exc)))
            if resp.status == 200:
                return Accepted(_message_name(resp), GatewayResponse(status=200))
            code, message, fields = error_details(resp.body)
            kind = classify(code, resp.status, message, fields)
            if kind is Kind.REFRESH_AUTH and not refreshed:  # our OAuth token was refused
                try:
                    access_token = await self.tokens.refresh(cred, failed=access_token)
                except OAuthFailed as exc:
                    return _oauth_failure(exc)
                continue
            return self._failure(resp, kind, code, message)
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, resp: Response, kind: Kind, code: str, message: str) -> Outcome:
        response = GatewayResponse(status=resp.status, reason=code, detail=message[:500])
        retry_after = resp.retry_after()
        if retry_after is not None:
            response["retryAfter"] = retry_after
        floor = self.settings.quota_retry_floor_seconds if code in QUOTA_FLOOR_CODES else 0.0
        return outcome_for(kind, response, retry_after=retry_after, floor=floor)

    def open_connections(self) -> int:
        return self.pool.open_connections()

    async def close(self) -> None:
        await self.pool.close()
        self.tokens.forget()


def _oauth_failure(exc: OAuthFailed) -> Outcome:
    response = GatewayResponse(status=0, reason="OAuthRefused" if exc.refused else "OAuthError",
                               detail=str(exc)[:500])
    return outcome_for(Kind.AUTH_CONFIG if exc.refused else Kind.RETRY, response)


def _message_name(resp: Response) -> str:
    """The message name FCM gives an accepted message (``projects/P/messages/ID``)."""
    try:
        body = orjson.loads(resp.body)
    except orjson.JSONDecodeError:
        return ""
    return str(body.get("name", "")) if isinstance(body, dict) else ""
