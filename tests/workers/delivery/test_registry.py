"""The gateway registry: every name builds a gateway of the one contract, named as registered."""

from __future__ import annotations

import inspect

import pytest

from workers.delivery.gateway import Gateway
from workers.delivery.registry import GATEWAYS, UnknownGateway, gateway_factory


@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_each_registered_gateway_follows_the_contract(name: str) -> None:
    cls = gateway_factory(name)
    assert cls.name == name
    for method in ("send", "open_connections", "close"):
        ours = inspect.signature(getattr(cls, method))
        contract = inspect.signature(getattr(Gateway, method))
        assert list(ours.parameters) == list(contract.parameters), (name, method)
    assert inspect.iscoroutinefunction(cls.send) and inspect.iscoroutinefunction(cls.close)


def test_an_unknown_gateway_is_named_in_the_error() -> None:
    with pytest.raises(UnknownGateway, match=r"'webpush'.*apns, fcm"):
        gateway_factory("webpush")
