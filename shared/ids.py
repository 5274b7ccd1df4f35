"""Time-ordered UUIDs (version 7) so new rows land at the right edge of their B-tree indexes."""

from __future__ import annotations

import random
import time
import uuid

_random_bits = random.getrandbits
_VERSION_7 = 0x7 << 76
_VARIANT_10 = 0b10 << 62  # RFC 9562 variant bits


def _uuid7_int() -> int:
    # The random bits come from ``random`` (seeded from os.urandom, and again in every forked
    # child), not from os.urandom itself, a system call: the ids must be unique, not
    # unguessable (every read is scoped to the caller's app).
    return (((time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_7
            | _random_bits(12) << 64 | _VARIANT_10 | _random_bits(62))


def uuid7() -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int())


def new_id() -> str:
    """``str(uuid7())``, made for the hot path (one per message and per token): one 128-bit
    value formatted once costs less than ``uuid.UUID``'s constructor and ``__str__``."""
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id() -> str:
    """A short request id (``uniqId``) shown to clients and carried into tasks and logs."""
    return f"{_random_bits(40):010x}"
