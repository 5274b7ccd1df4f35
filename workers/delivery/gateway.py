"""The one contract between the delivery engine and a push gateway (APNs, FCM; Web Push or HMS
next), in the manner of Sygnal's pushkins.

A gateway is built from the settings and the process's Redis (for state every worker shares,
like the APNs JWT). It is handed an app's configuration and one of that app's jobs at a time,
many at once (the engine keeps its whole in-flight window of sends running concurrently and
takes more as each one finishes), and returns that job's outcome: it translates every answer
and transport failure of its third party into an ``Outcome`` (``workers.delivery.outcomes``)
and never raises for a per-token problem. It knows nothing of the consumer (queues, in-flight
bookkeeping, acks, retries): the engine does all of that around it. Its metrics come through
``open_connections``, sampled by the runtime. ``workers.delivery.registry`` names the gateways a
worker can run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

from shared.jobs import SendJob
from shared.settings import Settings
from workers.delivery.appconfig import AppConfig
from workers.delivery.outcomes import Outcome


class Gateway(Protocol):
    name: str  # the registry name; also the credentials provider its apps are configured with

    async def send(self, config: AppConfig, job: SendJob) -> Outcome:
        """The outcome of sending ``job``; never raises for a per-token problem."""

    def open_connections(self) -> int:
        """Connections open to the third party now (``pushflow_gateway_connections``)."""

    async def close(self) -> None: ...


GatewayFactory = Callable[[Settings, "Redis[bytes]"], Gateway]
