"""``pushflow apps create`` and ``pushflow keys create``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from domain.keys import store as apps
from pushflow.cli.main import CommandError
from shared.db.connect import DatabaseUnavailable, connect
from shared.settings import get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    apps_p = sub.add_parser("apps", help="manage applications (tenants)")
    apps_sub = apps_p.add_subparsers(dest="apps_command", required=True)
    groups["apps"] = apps_sub
    create = apps_sub.add_parser("create", help="create an app and print its application key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=create_app)

    keys_p = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    groups["keys"] = keys_sub
    kc = keys_sub.add_parser("create", help="create an API key; the secret is printed once")
    kc.add_argument("app_key")
    kc.add_argument("--scopes", default="push:send,push:read", help="comma-separated scopes")
    kc.add_argument("--json", action="store_true", help="print one JSON object")
    kc.set_defaults(func=create_key)
    kr = keys_sub.add_parser("revoke", help="revoke a key by the first characters of its secret")
    kr.add_argument("app_key")
    kr.add_argument("secret_prefix")
    kr.set_defaults(func=revoke_key)


def _db() -> Any:
    try:
        return connect(get_settings().database_url)
    except DatabaseUnavailable as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None


def create_app(args: argparse.Namespace) -> int:
    with _db() as conn:
        app_key = apps.create_app(conn, args.name)
    if args.json:
        print(json.dumps({"applicationKey": app_key, "name": args.name}))
    else:
        print(app_key)
    return 0


def create_key(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    with _db() as conn:
        try:
            key = apps.create_key(conn, args.app_key, scopes)
        except apps.UnknownScope as exc:
            raise CommandError(f"unknown scope: {exc} (known: {', '.join(apps.SCOPES)})") from None
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {args.app_key}") from None
    if args.json:
        print(json.dumps({"applicationKey": key.application_key, "secret": key.secret,
                          "scopes": list(key.scopes)}))
    else:
        print(key.secret)
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    with _db() as conn:
        try:
            n = apps.revoke_key(conn, args.secret_prefix, args.app_key,
                                redis_url=get_settings().redis_url)
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {args.app_key}") from None
    print(f"revoked {n} key(s)")
    return 0 if n else 1
