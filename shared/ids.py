"""Time-ordered UUIDs (version 7) so new rows land at the right edge of their B-tree indexes."""

from __future__ import annotations

import os
import time
import uuid


def _uuid7_int() -> int:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68 & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
    return value


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int())


def new_id() -> str:
    # Formatted directly: the intake makes one per token, and uuid.UUID's constructor and
    # __str__ cost several times more than this.
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id() -> str:
    """A short request id (``uniqId``) shown to clients and carried into tasks and logs."""
    return os.urandom(5).hex()
