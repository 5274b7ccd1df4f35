"""The APNs gateway (``workers.delivery.gateway.Gateway``): one HTTP/2 request per token, many in
flight at once on the long-lived connections, each answer classified by Apple's error table."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from shared.credentials import ApnsCertificate, ApnsTokenKey
from shared.gateway_payloads import apns_body
from shared.jobs import GatewayResponse, SendJob
from shared.observability import metrics
from shared.settings import Settings
from workers.apns.errors import classify
from workers.apns.jwt import SharedJwt
from workers.apns.request import request_headers
from workers.delivery.appconfig import AppConfig
from workers.delivery.classes import Kind, outcome_for
from workers.delivery.outcomes import Accepted, Outcome, Retry
from workers.h2client import ConnectionLost, ConnectionPool, Response, tls_context


class ApnsGateway:
    name = "apns"

    def __init__(self, settings: Settings, redis: Redis[bytes]) -> None:
        self.settings = settings
        self.jwt = SharedJwt(redis, settings.apns_jwt_refresh_seconds, metrics.APNS_JWT_AGE)
        self._pools: dict[tuple[str, str | None], ConnectionPool] = {}

    def _pool(self, cred: ApnsTokenKey | ApnsCertificate) -> ConnectionPool:
        s = self.settings
        origin = s.apns_sandbox_url if cred.sandbox else s.apns_production_url
        # A certificate gets connections of its own (it is presented in the TLS handshake);
        # token-key apps share them. Keyed by the PEM itself: a str caches its hash.
        client_pem = cred.pem if isinstance(cred, ApnsCertificate) else None
        pool = self._pools.get((origin, client_pem))
        if pool is None:
            pool = ConnectionPool(origin, tls_context(s.gateway_ca_file, client_pem),
                                  s.apns_connections, s.send_timeout_seconds)
            self._pools[(origin, client_pem)] = pool
        return pool

    async def send(self, config: AppConfig, job: SendJob) -> Outcome:
        cred = config.credential
        assert isinstance(cred, ApnsTokenKey | ApnsCertificate)
        pool = self._pool(cred)
        body = apns_body(job["message"])
        bearer = await self.jwt.token(cred) if isinstance(cred, ApnsTokenKey) else None
        for refreshed in (False, True):
            headers = request_headers(job, pool.authority, cred.topic, bearer, len(body))
            try:
                resp = await pool.request(headers, body, self.settings.send_timeout_seconds)
            except ConnectionLost as exc:
                return Retry(GatewayResponse(status=0, reason="ConnectionLost", detail=str(exc)))
            except TimeoutError as exc:
                return Retry(GatewayResponse(status=0, reason="Timeout", detail=str(exc)))
            if resp.status == 200:
                apns_id = resp.headers.get(b"apns-id", job["dispatchId"].encode()).decode()
                return Accepted(apns_id, GatewayResponse(status=200))
            response, retry_after = _failure(resp)
            kind = classify(resp.status, response.get("reason", ""))
            if kind is Kind.REFRESH_AUTH and not refreshed and isinstance(cred, ApnsTokenKey):
                assert bearer is not None
                bearer = await self.jwt.refresh(cred, failed=bearer)
                continue
            timestamp = response.get("timestamp")
            return outcome_for(kind, response, retry_after=retry_after,
                               invalidated_at=timestamp / 1000 if timestamp else None)
        raise AssertionError("unreachable")  # pragma: no cover

    def open_connections(self) -> int:
        return sum(pool.open_connections() for pool in self._pools.values())

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()


def _failure(resp: Response) -> tuple[GatewayResponse, float | None]:
    """The gateway's raw answer (status, reason, timestamp) and any Retry-After it gave."""
    out = GatewayResponse(status=resp.status)
    try:
        body = orjson.loads(resp.body) if resp.body else {}
    except orjson.JSONDecodeError:
        body = {}
    if isinstance(body, dict):
        if body.get("reason"):
            out["reason"] = str(body["reason"])
        if isinstance(body.get("timestamp"), int | float):
            out["timestamp"] = int(body["timestamp"])
    retry_after = resp.retry_after()
    if retry_after is not None:
        out["retryAfter"] = retry_after
    return out, retry_after
