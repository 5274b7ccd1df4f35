"""Time-ordered UUIDs (version 7) so new rows land at the right edge of their B-tree indexes."""

from __future__ import annotations

import os
import time
import uuid
from types import MappingProxyType

# A hex digit's low two bits under the RFC 9562 variant bits (10xx).
_VARIANT = MappingProxyType({f"{i:x}": "89ab"[i & 3] for i in range(16)})


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
    # Formatted directly from hex digits: the intake makes one per message and per token, and
    # uuid.UUID's constructor and __str__ (or formatting a 128-bit int) cost several times more.
    ms = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    r = os.urandom(10).hex()  # 74 random bits used, as in _uuid7_int
    return f"{ms[:8]}-{ms[8:]}-7{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}"


def request_id() -> str:
    """A short request id (``uniqId``) shown to clients and carried into tasks and logs."""
    return os.urandom(5).hex()
