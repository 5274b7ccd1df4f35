"""Sign-in and sign-out.

The sign-in form is protected like every other form, without a session yet: its token is also
set in a cookie of its own (SameSite=Strict, scoped to the sign-in path) and both must match
(another site can neither read the cookie nor set it). Failed attempts are throttled per email
and per client address (``domain.users.throttle``); a throttled attempt gets 429 without its
password being checked, so guessing on during the window learns nothing. A success starts a new
session (``domain.users.sessions``) and clears the email's failures.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.users import passwords, sessions
from domain.users import store as users
from domain.users.throttle import Throttle
from producer.panel.guard import PanelError, see_other, viewer_action
from producer.panel.security import clear_cookie, set_cookie
from producer.panel.templates import render
from producer.panel.viewer import SESSION_COOKIE, Viewer, current_viewer
from producer.state import get_state

SIGNIN_COOKIE = "pf_signin"
SIGNIN_PATH = "/panel/sign-in"
_SIGNIN_FORM_SECONDS = 3600


def throttle(request: Request) -> Throttle:
    s = get_state(request).settings
    return Throttle(s.panel_signin_email_limit, s.panel_signin_address_limit,
                    s.panel_signin_window_seconds)


def _safe_next(value: object) -> str:
    # Only a path of the panel: never another site (an open redirect after sign-in).
    text = value if isinstance(value, str) else ""
    if text.startswith("/panel/") and not text.startswith("//") and "\\" not in text:
        return text
    return "/panel/"


def _form(request: Request, *, next_path: str, email: str = "", error: str = "",
          status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "signin.html", None, {
        "signin_token": token, "next": next_path, "email": email, "error": error},
        status=status)
    set_cookie(request, response, SIGNIN_COOKIE, token, path=SIGNIN_PATH,
               max_age=_SIGNIN_FORM_SECONDS, same_site="strict")
    return response


async def sign_in_page(request: Request) -> Response:
    next_path = _safe_next(request.query_params.get("next"))
    if await current_viewer(request) is not None:
        return see_other(next_path)
    return _form(request, next_path=next_path)


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def sign_in(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=8, max_part_size=8192)
    token, cookie = form.get("signin_token"), request.cookies.get(SIGNIN_COOKIE, "")
    if not isinstance(token, str) or not cookie or not hmac.compare_digest(
            token.encode(), cookie.encode()):
        raise PanelError(403, "The sign-in form is out of date: reload the page and try again.")
    email, password = _text(form, "email"), _text(form, "password")
    next_path = _safe_next(form.get("next"))
    address = _client_address(request)
    rule = throttle(request)
    state = get_state(request)
    async with state.pool.connection() as conn:
        wait = await rule.retry_after(conn, email, address)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            response = _form(request, next_path=next_path, email=email, status=429, error=(
                f"Too many failed sign-ins: try again in about {minutes} minute(s)."))
            response.headers["Retry-After"] = str(wait)
            return response
        found = await users.find_by_email(conn, email) if email else None
        ok = await asyncio.to_thread(passwords.verify_password,
                                     found.password_hash if found else None, password)
        if not ok or found is None:
            await rule.failed(conn, email, address)
            return _form(request, next_path=next_path, email=email, status=401,
                         error="Wrong email or password.")
        await rule.succeeded(conn, email)
        lifetime = int(state.settings.panel_session_hours * 3600)
        session = await sessions.start(conn, found.user.id, lifetime)
    response = see_other(next_path)
    set_cookie(request, response, SESSION_COOKIE, session.session_id, path="/panel",
               max_age=lifetime)
    clear_cookie(request, response, SIGNIN_COOKIE, path=SIGNIN_PATH)
    return response


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@viewer_action
async def sign_out(request: Request, viewer: Viewer, form: FormData) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE, "")
    async with get_state(request).pool.connection() as conn:
        await sessions.end(conn, session_id)
    response = see_other(SIGNIN_PATH)
    clear_cookie(request, response, SESSION_COOKIE, path="/panel")
    return response


routes: list[BaseRoute] = [
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
]
