"""``pushflow sandbox``: run the sandbox FCM and APNs gateways."""

from __future__ import annotations

from typing import Any


def register(sub: Any, groups: dict[str, Any]) -> None:
    """Not yet implemented: registers nothing."""
