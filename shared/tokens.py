"""Device token rules: what an APNs or FCM token looks like, and platform detection.

APNs device tokens are 32 bytes, sent as 64 hex characters
(https://developer.apple.com/documentation/usernotifications/registering-your-app-with-apns).
FCM registration tokens are opaque but in practice ``<instance id>:APA91b<base64url>``
(about 150-170 characters); older ones are bare ``APA91b...``.
"""

from __future__ import annotations

import re
from typing import Literal

Platform = Literal["ios", "android"]
PLATFORMS: tuple[Platform, ...] = ("ios", "android")

_APNS = re.compile(r"[0-9a-fA-F]{64}")
_APNS_GENERIC = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
_FCM = re.compile(r"(?:[A-Za-z0-9_-]{8,}:)?APA91[A-Za-z0-9_-]{60,4000}")
# FCM's shape as a pattern, for code that matches bytes (campaign uploads).
FCM_PATTERN = _FCM.pattern
# Any token we are willing to pass to a gateway when the client names its platform.
_GENERIC = re.compile(r"[A-Za-z0-9_\-:.]{16,4096}")


def detect_platform(token: str) -> Platform | None:
    """The platform a token's shape reveals, or None when the shape says nothing."""
    if _APNS.fullmatch(token):
        return "ios"
    if _FCM.fullmatch(token):
        return "android"
    return None


def is_valid_for(token: str, platform: Platform) -> bool:
    """Whether a token of no recognisable shape is acceptable for the platform the client named."""
    if platform == "ios":
        return bool(_APNS_GENERIC.fullmatch(token))
    return bool(_GENERIC.fullmatch(token))


def mask(token: str) -> str:
    """A token shortened for logs: enough to correlate, never the whole secret-ish value."""
    if len(token) <= 12:
        return "***"
    return f"{token[:6]}…{token[-4:]}"
