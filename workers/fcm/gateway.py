"""The FCM gateway the engine calls: ``send_each_async`` per app batch (each message its own
HTTP/2 request on the App's connection), every failure classified by the FCM error table."""

from __future__ import annotations

import asyncio
from typing import Any

import firebase_admin
import httpx
from firebase_admin import exceptions, messaging
from google.auth import exceptions as auth_exceptions
from redis.asyncio import Redis

from shared.credentials import FcmServiceAccount
from shared.jobs import GatewayResponse
from shared.settings import Settings
from workers.delivery.appconfig import AppConfig
from workers.delivery.classes import Kind, outcome_for
from workers.delivery.engine import Work
from workers.delivery.outcomes import Accepted, Outcome, Retry
from workers.fcm.client import FirebaseApps
from workers.fcm.errors import QUOTA_FLOOR_CODES, classify
from workers.fcm.message import build_message


class FcmGateway:
    name = "fcm"

    def __init__(self, settings: Settings, redis: Redis[bytes]) -> None:
        self.settings = settings
        self.apps = FirebaseApps(settings.fcm_url, settings.gateway_ca_file,
                                 settings.send_timeout_seconds)
        self._limits: dict[str, asyncio.Semaphore] = {}

    async def send(self, config: AppConfig, works: list[Work]) -> list[Outcome]:
        cred = config.credential
        assert isinstance(cred, FcmServiceAccount)
        app = self.apps.app_for(cred)
        limit = self._limits.get(app.name)
        if limit is None:
            limit = self._limits[app.name] = asyncio.Semaphore(self.settings.fcm_max_concurrency)
        return list(await asyncio.gather(*(self._send_one(app, limit, w) for w in works)))

    async def _send_one(self, app: firebase_admin.App, limit: asyncio.Semaphore,
                        work: Work) -> Outcome:
        # One message per send_each_async call: each finishes on its own answer instead of
        # waiting for the slowest of a batch, and the semaphore keeps httpx's pool short.
        async with limit:
            try:
                batch = await messaging.send_each_async([build_message(work.job)], app=app)
            except exceptions.FirebaseError as exc:  # the whole call failed (OAuth refresh...)
                return self._call_failure(exc)
        resp = batch.responses[0]
        if resp.success:
            return Accepted(str(resp.message_id), GatewayResponse(status=200))
        return self._failure(resp.exception)

    def _failure(self, exc: exceptions.FirebaseError) -> Outcome:
        http: httpx.Response | None = getattr(exc, "http_response", None)
        if http is None:  # no answer: timeout, connection loss, GOAWAY
            return Retry(GatewayResponse(status=0, reason=type(exc).__name__, detail=str(exc)))
        code, message, fields = _error_details(http)
        response = GatewayResponse(status=http.status_code, reason=code, detail=message[:500])
        retry_after = _retry_after(http)
        if retry_after is not None:
            response["retryAfter"] = retry_after
        kind = classify(code, http.status_code, message, fields)
        floor = self.settings.quota_retry_floor_seconds if code in QUOTA_FLOOR_CODES else 0.0
        return outcome_for(kind, response, retry_after=retry_after, floor=floor)

    def _call_failure(self, exc: exceptions.FirebaseError) -> Outcome:
        cause = exc.cause
        response = GatewayResponse(status=0, reason=type(cause or exc).__name__,
                                   detail=str(exc)[:500])
        if isinstance(cause, auth_exceptions.RefreshError) and not cause.retryable:
            return outcome_for(Kind.AUTH_CONFIG, response)  # the token endpoint refused us
        return Retry(response)

    async def close(self) -> None:
        await self.apps.close()


def _error_details(http: httpx.Response) -> tuple[str, str, list[str]]:
    """(FCM error code, message, names of fields blamed) from a v1 error body."""
    try:
        error: dict[str, Any] = http.json().get("error", {})
    except ValueError:
        return "", http.text[:200], []
    code = str(error.get("status", ""))
    fields: list[str] = []
    for detail in error.get("details", []) or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("errorCode"):
            code = str(detail["errorCode"])
        for violation in detail.get("fieldViolations", []) or []:
            fields.append(str(violation.get("field", "")))
    return code, str(error.get("message", "")), fields


def _retry_after(http: httpx.Response) -> float | None:
    value = http.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
