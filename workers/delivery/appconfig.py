"""Per-app delivery configuration (credentials, send rates), cached by each worker process.

The send path must not touch PostgreSQL per token: a worker reads an app's row once and keeps it
for ``ttl`` seconds (so new credentials or a changed rate take effect within that time), from a
thread so the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.keys.send_rates import SendRates, from_row
from shared import credentials
from shared.credentials import Credential, CredentialError, Provider
from shared.db.connect import connect
from shared.observability import metrics
from shared.settings import Settings
from shared.singleflight import SingleFlight


@dataclass(frozen=True)
class AppConfig:
    app_id: int
    credential: Credential | None
    send_rates: SendRates  # sends/s per gateway and lane (``.of(gateway, lane)``; 0 = unlimited)
    problem: str | None = None  # why the credential is unusable (undecryptable, ...)


class AppConfigCache:
    def __init__(self, settings: Settings, provider: Provider, ttl: float = 60.0) -> None:
        self.settings = settings
        self.provider = provider
        self.ttl = ttl
        self._entries: dict[int, tuple[float, AppConfig]] = {}
        self._loads: SingleFlight[int, AppConfig] = SingleFlight()  # one load per app

    async def get(self, app_id: int) -> AppConfig:
        entry = self._entries.get(app_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return await self._loads.run(app_id, lambda: self._reload(app_id))

    async def _reload(self, app_id: int) -> AppConfig:
        config = await asyncio.to_thread(self._load, app_id)
        self._entries[app_id] = (time.monotonic() + self.ttl, config)
        return config

    def _load(self, app_id: int) -> AppConfig:
        with connect(self.settings.database_url, autocommit=True) as conn:
            row: Any = conn.execute("SELECT send_rates FROM apps WHERE id = %s",
                                    (app_id,)).fetchone()
            rates = from_row(None if row is None else row[0], self.settings)
            try:
                cred = credentials.load(conn, app_id, self.provider, self.settings.fernet_key())
            except CredentialError as exc:
                return AppConfig(app_id, None, rates, str(exc))
        _export_expiry(app_id, cred)
        return AppConfig(app_id, cred, rates)


def _export_expiry(app_id: int, cred: Credential | None) -> None:
    """``pushflow_credential_expiry_timestamp_seconds`` for an app's APNs certificate (the
    ``notAfter`` stored with it); .p8 keys and service accounts carry no expiry date."""
    if isinstance(cred, credentials.ApnsCertificate) and cred.not_after:
        try:
            expires = datetime.fromisoformat(cred.not_after).timestamp()
        except ValueError:
            return
        metrics.CREDENTIAL_EXPIRY.labels(cred.provider, str(app_id)).set(expires)
