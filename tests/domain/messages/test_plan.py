"""``plan_tokens``: each token's platform, and the tokens refused (one function, no I/O)."""

from __future__ import annotations

import secrets

from domain.devices.registry import Verdict
from domain.messages.plan import Plan, plan_tokens, token_shapes
from shared.payload import PushRequest
from shared.tokens import PLATFORMS, Platform


def _plan(tokens: list[str], configured: frozenset[Platform],
          devices: dict[str, Verdict] | None = None) -> Plan:
    req = PushRequest(tokens=tokens, content={"content": "c"})
    return plan_tokens(req, devices, token_shapes(tokens), configured)


def test_a_platform_without_credentials_is_refused_after_the_token_checks() -> None:
    apple = secrets.token_hex(32)
    google = secrets.token_hex(6) + ":APA91b" + secrets.token_urlsafe(90)
    plan = _plan([apple, "??", google], frozenset({"android"}))
    assert plan.accepted == [(2, google, "android")]
    # A token of no platform is invalid whatever is configured; only a token that could go
    # somewhere is refused for the missing credentials.
    assert [(r.index, r.code) for r in plan.rejected] == [
        (0, "PLATFORM_NOT_CONFIGURED"), (1, "INVALID_DEVICE_TOKEN")]
    assert "'pushflow apps credentials APP_KEY --apns-key ...'" in plan.rejected[0].message


def test_the_registered_platform_decides_which_credentials_are_needed() -> None:
    odd = "odd-shaped-" + secrets.token_hex(8)
    devices = {odd: Verdict(platform="ios", invalidated=False)}
    assert _plan([odd], frozenset({"android"}), devices).rejected[0].code == \
        "PLATFORM_NOT_CONFIGURED"
    assert _plan([odd], frozenset(PLATFORMS), devices).accepted == [(0, odd, "ios")]
    # No platform configured at all: nothing goes anywhere.
    assert [r.code for r in _plan([secrets.token_hex(32)], frozenset()).rejected] == [
        "PLATFORM_NOT_CONFIGURED"]
