"""The request id (``uniqId``) of the work being done, carried in a contextvar.

The API binds it per request; a worker binds the job's ``requestId`` around each task; the JSON
log formatter reads it, so every log line of one push - intake, send, DLR, webhook - carries the
same id. A contextvar (not a thread-local) so asyncio tasks each see their own value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("pushflow_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    """Set the id for the current context; pass the token to ``reset_request_id``."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


@contextlib.contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)
