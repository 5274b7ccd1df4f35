"""What every panel answer carries, and how its errors look.

``PanelMiddleware`` wraps the whole ``/panel`` mount:

- Security headers on every answer: a strict Content-Security-Policy (only our own files; no
  inline script or style, no plugins, no framing, forms post only to us), ``nosniff``, no
  referrer to other sites (search URLs hold device tokens), ``no-store`` on pages (a shared
  computer's back button shows nothing after sign-out).
- Errors as HTML pages instead of the API's JSON envelope: the panel's own exception handlers
  replace the app's for the requests it serves (Starlette looks them up in the scope), and
  what escapes the router (its 404) is rendered here too.

``set_cookie`` is the one way the panel sets a cookie: HttpOnly, SameSite, Secure when the
request came over TLS or ``PUSHFLOW_PANEL_SECURE_COOKIES`` says so.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from urllib.parse import urlencode

import psycopg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producer.panel.guard import PanelError, SignInRequired, see_other
from producer.panel.templates import render
from producer.state import get_state

log = logging.getLogger("pushflow.panel")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_NO_STORE = (b"cache-control", b"no-store")


def set_cookie(request: Request, response: Response, name: str, value: str, *, path: str,
               max_age: int, same_site: Literal["lax", "strict"] = "lax") -> None:
    secure = (request.url.scheme == "https"
              or get_state(request).settings.panel_secure_cookies)
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, secure=secure,
                        samesite=same_site)


def clear_cookie(request: Request, response: Response, name: str, *, path: str) -> None:
    set_cookie(request, response, name, "", path=path, max_age=0)


async def _error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return see_other("/panel/sign-in?" + urlencode({"next": exc.next_path}))
    if isinstance(exc, PanelError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    elif isinstance(exc, psycopg.OperationalError):
        get_state(request).discard_dead_connections()
        status, message = 503, "The database is unavailable; try again in a moment."
    else:
        log.exception("panel page failed: %s", request.url.path, exc_info=exc)
        status, message = 500, "Something went wrong on our side; it was logged."
    return render(request, "error.html", None, {"status": status, "message": message},
                  status=status)


_HANDLERS: dict[Any, Any] = {Exception: _error_page}


class PanelMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["starlette.exception_handlers"] = (_HANDLERS, {})
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not scope["path"].startswith("/panel/static/"):
                    headers.append(_NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            response = await _error_page(Request(scope, receive), exc)
            await response(scope, receive, send_with_headers)
