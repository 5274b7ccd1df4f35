"""Stand-ins for unit tests of the engine: a gateway base written to the contract
(``workers.delivery.gateway.Gateway``) and an app configuration source that needs no database."""

from __future__ import annotations

from domain.keys.send_rates import SendRates
from workers.delivery.appconfig import AppConfig


class StubGateway:
    """No connections of its own; subclasses say how ``send`` answers."""

    name = "stub"

    def open_connections(self) -> int:
        return 0

    async def close(self) -> None: ...


class OneConfig:
    """Every app has a credential and no send rate limit."""

    async def get(self, app_id: int) -> AppConfig:
        unlimited = SendRates({}, {"tx": 0.0, "bulk": 0.0})
        return AppConfig(app_id, credential=object(), send_rates=unlimited)  # type: ignore[arg-type]
