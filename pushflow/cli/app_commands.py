"""``pushflow apps create|list`` and ``pushflow keys create|list|revoke``."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from domain.keys import store as apps
from pushflow.cli.main import CommandError
from shared.db.connect import DatabaseUnavailable, connect
from shared.settings import get_settings

_DEFAULT_SCOPES = ",".join(apps.DEFAULT_SCOPES)


def register(sub: Any, groups: dict[str, Any]) -> None:
    apps_p = sub.add_parser("apps", help="manage applications (tenants)")
    apps_sub = apps_p.add_subparsers(dest="apps_command", required=True)
    groups["apps"] = apps_sub
    create = apps_sub.add_parser("create", help="create an app and print its application key")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=create_app)
    al = apps_sub.add_parser("list", help="list apps: key, name, created, number of keys")
    al.add_argument("--json", action="store_true", help="print one JSON array")
    al.set_defaults(func=list_apps)

    keys_p = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    groups["keys"] = keys_sub
    kc_help = (f"create an API key (scopes {_DEFAULT_SCOPES} unless --scopes);"
               " the secret is printed once")
    kc = keys_sub.add_parser("create", help=kc_help, description=kc_help)
    kc.add_argument("app_key")
    kc.add_argument("--scopes", default=_DEFAULT_SCOPES,
                    help=f"comma-separated scopes (default: {_DEFAULT_SCOPES};"
                         f" known: {', '.join(apps.SCOPES)}; admin implies all)")
    kc.add_argument("--json", action="store_true", help="print one JSON object")
    kc.set_defaults(func=create_key)
    kl = keys_sub.add_parser("list", help="list an app's keys: prefix, scopes, created, last"
                                          " use, revoked (secrets are never shown again)")
    kl.add_argument("app_key")
    kl.add_argument("--json", action="store_true", help="print one JSON array")
    kl.set_defaults(func=list_keys)
    kr = keys_sub.add_parser("revoke", help="revoke a key by the first characters of its secret")
    kr.add_argument("app_key")
    kr.add_argument("secret_prefix")
    kr.set_defaults(func=revoke_key)


def db() -> Any:
    try:
        return connect(get_settings().database_url)
    except DatabaseUnavailable as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None


def _when(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def create_app(args: argparse.Namespace) -> int:
    with db() as conn:
        app_key = apps.create_app(conn, args.name)
    if args.json:
        print(json.dumps({"applicationKey": app_key, "name": args.name}))
    else:
        print(app_key)
    return 0


def list_apps(args: argparse.Namespace) -> int:
    with db() as conn:
        found = apps.list_apps(conn)
    if args.json:
        print(json.dumps([{"applicationKey": a.application_key, "name": a.name,
                           "createdAt": _when(a.created_at), "keys": a.live_keys,
                           "revokedKeys": a.revoked_keys} for a in found]))
    elif found:
        _table(("APPLICATION KEY", "NAME", "CREATED", "KEYS"), [
            (a.application_key, a.name, _when(a.created_at) or "",
             f"{a.live_keys} ({a.revoked_keys} revoked)" if a.revoked_keys else str(a.live_keys))
            for a in found])
    else:
        print("no apps yet: pushflow apps create NAME")
    return 0


def create_key(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    with db() as conn:
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


def list_keys(args: argparse.Namespace) -> int:
    with db() as conn:
        try:
            found = apps.list_keys(conn, args.app_key)
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {args.app_key}") from None
    if args.json:
        print(json.dumps([{"prefix": k.prefix, "scopes": list(k.scopes),
                           "createdAt": _when(k.created_at), "lastUsedAt": _when(k.last_used_at),
                           "revokedAt": _when(k.revoked_at)} for k in found]))
    elif found:
        _table(("PREFIX", "SCOPES", "CREATED", "LAST USED", "REVOKED"), [
            (k.prefix, ",".join(k.scopes), _when(k.created_at) or "",
             _when(k.last_used_at) or "never", _when(k.revoked_at) or "-") for k in found])
    else:
        print(f"no keys yet: pushflow keys create {args.app_key}")
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    with db() as conn:
        try:
            n = apps.revoke_key(conn, args.secret_prefix, args.app_key,
                                redis_url=get_settings().redis_url)
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {args.app_key}") from None
    print(f"revoked {n} key(s)")
    return 0 if n else 1
