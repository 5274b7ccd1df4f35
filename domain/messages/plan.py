"""Which platform each token of a submission goes to, and which tokens are refused.

A token's platform is its registered device's, else what its shape reveals (APNs and FCM tokens
look different), else the request's ``platform`` hint when the token is valid for it. A token a
gateway reported dead since it was registered is refused (``TOKEN_INVALIDATED``); one of no
known shape, not registered and without a fitting hint, too (``INVALID_DEVICE_TOKEN``). A token
of a platform the app has no gateway credentials for is refused as well
(``PLATFORM_NOT_CONFIGURED``): it could only fail later, with ``auth_config``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.devices.registry import Verdict
from shared.payload import PushRequest
from shared.tokens import Platform, detect_platform, is_valid_for

MAX_TOKEN_CHARS = 4096
# Why a token of a platform without credentials is refused, and how to fix it.
_NOT_CONFIGURED: dict[Platform, str] = {
    "ios": "This app has no APNs credentials, so iOS tokens cannot be sent; store them with"
           " 'pushflow apps credentials APP_KEY --apns-key ...' (or --apns-cert)",
    "android": "This app has no FCM credentials, so Android tokens cannot be sent; store them"
               " with 'pushflow apps credentials APP_KEY --fcm-service-account FILE'",
}


@dataclass(frozen=True, slots=True)
class RejectedToken:
    index: int  # in the request's token list
    token: str
    code: str  # TOKEN_INVALIDATED | INVALID_DEVICE_TOKEN | PLATFORM_NOT_CONFIGURED | NO_DEVICES
    message: str
    parameter: str | None = None  # default: device_tokens[index]; a user: userIds[index]


@dataclass
class Plan:
    """Which tokens go where: (index, token, platform) accepted, and the rejected ones."""

    accepted: list[tuple[int, str, Platform]]
    rejected: list[RejectedToken]


def token_shapes(tokens: list[str]) -> list[Platform | None]:
    """The platform each token's shape reveals (None: unknown shape, or too long to test),
    computed once per submission and shared by the device look-up decision and the planning."""
    return [detect_platform(t) if len(t) <= MAX_TOKEN_CHARS else None for t in tokens]


def plan_tokens(req: PushRequest, devices: dict[str, Verdict] | None,
                shapes: list[Platform | None], configured: frozenset[Platform]) -> Plan:
    """Each token's platform (see the module docstring). ``devices`` None means "not looked up
    yet": shape and hint only. ``shapes`` is ``token_shapes(req.tokens)``; ``configured`` the
    platforms the app has credentials for (``domain.messages.configured``)."""
    accepted: list[tuple[int, str, Platform]] = []
    rejected: list[RejectedToken] = []
    for i, token in enumerate(req.tokens):
        device = devices.get(token) if devices is not None else None
        if device is not None and device.invalidated:
            rejected.append(RejectedToken(i, token, "TOKEN_INVALIDATED",
                                          "A gateway reported this token as no longer valid"))
            continue
        platform: Platform | None = device.platform if device is not None else None
        if platform is None and len(token) <= MAX_TOKEN_CHARS:
            platform = shapes[i]
            if platform is None and req.platform and is_valid_for(token, req.platform):
                platform = req.platform
        if platform is None:
            rejected.append(RejectedToken(
                i, token, "INVALID_DEVICE_TOKEN",
                "Not an APNs or FCM token, and not a registered device"
                + ("" if req.platform else "; set 'platform' for tokens of another shape")))
            continue
        if platform not in configured:
            rejected.append(RejectedToken(i, token, "PLATFORM_NOT_CONFIGURED",
                                          _NOT_CONFIGURED[platform]))
            continue
        accepted.append((i, token, platform))
    return Plan(accepted, rejected)
