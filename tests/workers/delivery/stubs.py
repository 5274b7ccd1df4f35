"""Stand-ins for unit tests of the engine: a gateway base written to the contract
(``workers.delivery.gateway.Gateway``) and an app configuration source that needs no database."""

from __future__ import annotations

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
        return AppConfig(app_id, credential=object(), send_rate=0.0)  # type: ignore[arg-type]
