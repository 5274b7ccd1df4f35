"""Failed sign-ins, counted in PostgreSQL so every API process sees the same counts.

A sign-in is refused without checking its password while any of its keys (the email, the
client address) reached its limit of failures inside the window that began with the first of
them; the window ends on its own (no sleep anywhere: the client is told when to come back).
A successful sign-in clears the email's count (not the address's: one good account must not
reset a password-spraying address).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]

_FAIL = """
INSERT INTO panel_signin_failures AS f (key, failures, window_started_at)
SELECT k, 1, now() FROM unnest(%(keys)s::text[]) AS k
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN f.window_started_at < now() - make_interval(secs => %(window)s)
                    THEN 1 ELSE f.failures + 1 END,
    window_started_at = CASE WHEN f.window_started_at < now() - make_interval(secs => %(window)s)
                             THEN now() ELSE f.window_started_at END
"""
_BLOCKED = """
SELECT ceil(extract(epoch FROM max(window_started_at + make_interval(secs => %(window)s)
                                   - now())))::int
FROM panel_signin_failures
WHERE window_started_at > now() - make_interval(secs => %(window)s) AND (
    (key = %(email)s AND failures >= %(email_limit)s)
    OR (key = %(address)s AND failures >= %(address_limit)s))
"""


@dataclass(frozen=True)
class Throttle:
    """The rule: at most ``email_limit`` failures per email and ``address_limit`` per client
    address within ``window_seconds``."""

    email_limit: int
    address_limit: int
    window_seconds: int

    @staticmethod
    def keys(email: str, address: str) -> tuple[str, str]:
        return "email:" + email.strip().lower(), "addr:" + address

    async def retry_after(self, conn: Conn, email: str, address: str) -> int | None:
        """Seconds until this sign-in may be tried again, or None when it may be now."""
        email_key, address_key = self.keys(email, address)
        cur = await conn.execute(_BLOCKED, {
            "window": self.window_seconds, "email": email_key, "address": address_key,
            "email_limit": self.email_limit, "address_limit": self.address_limit})
        row = await cur.fetchone()
        return None if row is None or row[0] is None else max(1, int(row[0]))

    async def failed(self, conn: Conn, email: str, address: str) -> None:
        await conn.execute(_FAIL, {"keys": list(self.keys(email, address)),
                                   "window": self.window_seconds})

    async def succeeded(self, conn: Conn, email: str) -> None:
        await conn.execute("DELETE FROM panel_signin_failures WHERE key = %s",
                           (self.keys(email, "")[0],))
