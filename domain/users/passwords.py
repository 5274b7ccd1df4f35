"""Panel passwords, hashed with argon2id (argon2-cffi's recommended parameters, RFC 9106's
low-memory profile). Hashing and checking take tens of milliseconds of CPU on purpose: callers
in an event loop run them in a thread (``asyncio.to_thread``)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps a huge form field from costing CPU


class WeakPassword(ValueError):
    """The password is refused; the message says why."""


def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The PHC string to store (``$argon2id$v=19$...``); refuses a weak password."""
    check_strength(password)
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. With no stored hash (unknown email) a hash is still
    computed, so the answer takes as long as for a real account and does not tell which
    emails exist."""
    hasher = _hasher()
    if stored_hash is None or len(password) > MAX_LENGTH:
        hasher.hash(password[:MAX_LENGTH])
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password for an account created without one (shown once)."""
    return secrets.token_urlsafe(15)
