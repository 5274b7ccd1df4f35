"""The Credentials page (``/panel/apps/{app_key}/settings/credentials``): the app's FCM service
account and APNs key (.p8) or certificate (.p12 / PEM). An upload is parsed by the same
validators as ``pushflow apps credentials`` (``shared.credentials``): refused with the reason
when it does not parse, else stored encrypted, and never shown again; the page shows only the
non-secret facts (project, key id, team, topic, certificate expiry) and the app's credentials
failure flag (cleared by a new upload). Admins upload; everyone sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from producer.panel.guard import action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state
from producer.sync_db import with_sync_connection
from shared import credentials
from shared.credentials import CredentialError

TEMPLATE = "credentials.html"
EXPIRY_WARNING = timedelta(days=30)


def _expiry(stored: credentials.Stored) -> tuple[datetime | None, bool]:
    """(when the credential expires, whether within EXPIRY_WARNING); only certificates do."""
    raw = stored.meta.get("notAfter")
    if not isinstance(raw, str) or not raw:
        return None, False
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None, False
    return at, at - datetime.now(UTC) < EXPIRY_WARNING


async def _show(request: Request, ctx: AppPage, *, status: int = 200, notice: str = "",
                error: str = "") -> Response:
    def read(conn: psycopg.Connection[Any]) -> tuple[list[credentials.Stored], Any]:
        # Set by the DLR side when a gateway refuses them (domain/dispatches/record.py).
        flag = conn.execute("SELECT auth_error, auth_error_at FROM apps WHERE id = %s",
                            (ctx.app_id,)).fetchone()
        return credentials.stored(conn, ctx.app_id), (flag or (None, None))

    found, flag = await with_sync_connection(get_state(request).settings, read)
    return render(request, TEMPLATE, ctx, {
        "stored": [(s, *_expiry(s)) for s in found], "auth_error": flag[0],
        "auth_error_at": flag[1], "notice": notice, "error": error}, status=status)


@page("support")
async def credentials_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


async def _file(form: FormData, name: str) -> bytes:
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise CredentialError("choose a file to upload")
    return await upload.read()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _parse(form: FormData) -> credentials.Credential:
    kind = _text(form, "kind")
    sandbox = _text(form, "sandbox") == "on"
    if kind == "fcm":
        return credentials.parse_fcm_service_account(await _file(form, "file"))
    if kind == "apns-key":
        return credentials.parse_apns_key(await _file(form, "file"), _text(form, "key_id"),
                                          _text(form, "team_id"), _text(form, "topic"), sandbox)
    if kind == "apns-certificate":
        password = _text(form, "password").encode() or None
        return credentials.parse_apns_certificate(await _file(form, "file"),
                                                  _text(form, "topic") or None, sandbox, password)
    raise CredentialError("unknown kind of credential")


@action("admin")
async def upload(request: Request, ctx: AppPage, form: FormData) -> Response:
    try:
        cred = await _parse(form)
    except CredentialError as exc:
        return await _show(request, ctx, status=422, error=f"Not stored: {exc}.")
    key = get_state(request).settings.fernet_key()
    await with_sync_connection(get_state(request).settings,
                               lambda conn: credentials.store(conn, ctx.app_id, cred, key))
    name = {"fcm": "FCM service account"}.get(cred.provider, f"APNs {cred.kind}")
    return await _show(request, ctx, status=201,
                       notice=f"{name} stored, encrypted. The send workers use it within a "
                              "minute.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/settings/credentials", credentials_page, methods=["GET"]),
    Route("/apps/{app_key}/settings/credentials/upload", upload, methods=["POST"]),
]
