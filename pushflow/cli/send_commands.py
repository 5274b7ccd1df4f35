"""``pushflow send TOKEN --content TEXT``: one push for a quick test, then its dispatch's status.

It submits through ``domain.messages.submit`` itself (``source`` api, the ``tx`` lane), as the
API would, with the same validation (``shared.payload.parse_push``). Going through a running API
instead would need an API secret on the command line (left in the shell's history and visible to
``ps``); this command needs only what the other admin commands need, the database and Redis of
the settings. The workers must be running for the status to move past ``queued``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import PoolTimeout

from domain.dispatches.timeline import message_story
from domain.keys import store as apps
from domain.messages.plan import RejectedToken
from domain.messages.standalone import StandaloneOutlet, standalone_outlet
from domain.messages.submit import LimitsExceeded, NothingAccepted, Submitted, TryAgain, submit
from pushflow.cli.app_commands import db
from pushflow.cli.main import CommandError
from shared.ids import request_id
from shared.payload import FieldError, Limits, parse_push
from shared.settings import Settings, get_settings

_PENDING = ("scheduled", "queued")  # statuses a worker has not decided yet
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class _App:
    app_id: int
    limits: Limits


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("send", help="send one push for a quick test; prints its messageId and"
                                    " then its status")
    p.add_argument("token", help="an APNs or FCM device token")
    p.add_argument("--content", required=True, help="the notification text")
    p.add_argument("--title", help="the notification title")
    p.add_argument("--app", dest="app_key",
                   help="application key (default: the demo app of <data dir>/demo.json,"
                        " written by pushflow up)")
    p.add_argument("--wait", type=float, default=5.0,
                   help="seconds to wait for the dispatch's status (default 5; 0: do not wait)")
    p.set_defaults(func=send)


def _app_key(args: argparse.Namespace, settings: Settings) -> str:
    if args.app_key:
        return str(args.app_key)
    demo = settings.data_dir / "demo.json"
    try:
        return str(json.loads(demo.read_text())["applicationKey"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandError(f"no --app given and no demo app in {demo}: name the app with"
                           " --app KEY (pushflow apps list)") from None


def _refusal(errors: list[FieldError] | list[RejectedToken]) -> str:
    lines = [f"  {e.code} {e.parameter}: {e.message}" if isinstance(e, FieldError)
             else f"  {e.code} device token: {e.message}" for e in errors]
    return "\n".join(["push refused:", *lines])


def send(args: argparse.Namespace) -> int:
    settings = get_settings()
    app_key = _app_key(args, settings)
    with db() as conn:
        try:
            row = apps.get_app(conn, app_key)
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {app_key}") from None
    app = _App(row.id, Limits.from_settings(settings, row.limit_overrides))
    body: dict[str, Any] = {"device_tokens": [args.token], "content": args.content}
    if args.title is not None:
        body["title"] = args.title
    req, errors = parse_push(body, app.limits, time.time())
    if req is None:
        raise CommandError(_refusal(errors))
    try:
        return asyncio.run(_send(settings, app, req, args.wait))
    except PoolTimeout as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None


async def _send(settings: Settings, app: _App, req: Any, wait: float) -> int:
    async with standalone_outlet(settings) as outlet:
        try:
            submitted = await submit(app, req, outlet=outlet, request_id=request_id())
        except NothingAccepted as exc:
            raise CommandError(_refusal(exc.rejected)) from None
        except LimitsExceeded as exc:
            raise CommandError(_refusal(exc.errors)) from None
        except TryAgain as exc:
            raise CommandError(f"not sent, try again: {exc}") from None
        assert isinstance(submitted, Submitted)  # no idempotency key, so never a stored answer
        print(f"messageId {submitted.message_id}", flush=True)
        [dispatch] = submitted.dispatches
        status, reason = await _settled(outlet, app.app_id, submitted.message_id, wait)
        print(f"dispatch {dispatch.id} ({dispatch.platform}): {status}"
              + (f" ({reason})" if reason else "")
              + (f" after {wait:g}s; are the workers running?" if status in _PENDING else ""))
    return 1 if status == "failed" else 0


async def _settled(outlet: StandaloneOutlet, app_id: int, message_id: str, wait: float
                   ) -> tuple[str, str | None]:
    """The dispatch's status once a worker decided it, or the pending one after ``wait``."""
    deadline = time.monotonic() + wait
    while True:
        async with outlet.pool.connection() as conn:
            story = await message_story(conn, app_id, uuid.UUID(message_id))
        assert story is not None
        dispatch = story.dispatches[0]
        if dispatch.status not in _PENDING or time.monotonic() >= deadline:
            return dispatch.status, dispatch.reason
        await asyncio.sleep(_POLL_SECONDS)
