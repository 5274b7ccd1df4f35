"""The gateways a delivery worker can run, by name: adding one (Web Push, HMS) is its module
plus one line here.

Entries are import paths, imported on first use, so a worker loads only the gateway it runs
(the FCM one pulls in firebase-admin, which an APNs worker never needs).
"""

from __future__ import annotations

import importlib
from typing import cast

from workers.delivery.gateway import GatewayFactory

GATEWAYS: dict[str, str] = {
    "apns": "workers.apns.gateway:ApnsGateway",
    "fcm": "workers.fcm.gateway:FcmGateway",
}


class UnknownGateway(LookupError):
    pass


def gateway_factory(name: str) -> GatewayFactory:
    try:
        module, _, attr = GATEWAYS[name].partition(":")
    except KeyError:
        raise UnknownGateway(f"no gateway named {name!r} (known: {', '.join(GATEWAYS)})"
                             ) from None
    return cast(GatewayFactory, getattr(importlib.import_module(module), attr))
