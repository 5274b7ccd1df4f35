"""Adding a user to an app: the one rule the CLI, the panel and ``/v2.1/users`` share.

The user is created when the email is new: with the password given, or a generated one that
is returned once to be handed over. An email that already has an account keeps its password
(an admin of one app must not be able to change how a user of other apps signs in) and just
gets the role in this app.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.users import passwords
from domain.users import store as users


@dataclass(frozen=True)
class Added:
    member: users.Member
    created: bool  # a new account (else an existing one got the role)
    new_membership: bool
    password: str | None  # the generated password of a new account, shown once


async def add_member(conn: users.Conn, app_id: int, email: str, role: users.Role,
                     password: str | None = None) -> Added:
    """Give ``email`` the ``role`` in the app, creating the account if new. Raises
    ``InvalidEmail``, ``WeakPassword`` (a given password too short) or ``LastAdmin``."""
    email = users.normalize_email(email)
    existing = await users.find_by_email(conn, email)
    generated: str | None = None
    if existing is None:
        if password is None:
            password = generated = passwords.generate_password()
        hashed = await asyncio.to_thread(passwords.hash_password, password)
        user, created = await users.create_user(conn, email, hashed)
    else:
        user, created = existing.user, False
    new_membership = await users.set_role(conn, app_id, user.id, role)
    member = await users.member(conn, app_id, user.email)
    assert member is not None
    return Added(member, created, new_membership, generated if created else None)
