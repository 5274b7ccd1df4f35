"""``pushflow users create EMAIL --app KEY --role ROLE`` and ``pushflow users list --app KEY``:
panel users (docs/panel.md). The first admin of an app is made here; later ones in the panel."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import psycopg

from domain.keys import store as apps
from domain.users import members, passwords
from domain.users import store as users
from pushflow.cli.main import CommandError
from shared.settings import get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("users", help="manage panel users")
    users_sub = p.add_subparsers(dest="users_command", required=True)
    groups["users"] = users_sub
    create_help = ("give a panel user a role in an app, creating the user when new (a new "
                   "user's password is read from stdin with --password-stdin, else generated "
                   "and printed once)")
    c = users_sub.add_parser("create", help=create_help, description=create_help)
    c.add_argument("email")
    c.add_argument("--app", required=True, help="the app's application key")
    c.add_argument("--role", required=True, choices=users.ROLES)
    c.add_argument("--password-stdin", action="store_true",
                   help="read the new user's password from the first line of stdin")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=create_user)
    ls = users_sub.add_parser("list", help="list an app's panel users and their roles")
    ls.add_argument("--app", required=True, help="the app's application key")
    ls.add_argument("--json", action="store_true", help="print one JSON array")
    ls.set_defaults(func=list_users)


async def add_user(database_url: str, app_key: str, email: str, role: users.Role,
                   password: str | None) -> members.Added:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        app_id = await users.app_id_of(conn, app_key)
        if app_id is None:
            raise apps.UnknownApp(app_key)
        return await members.add_member(conn, app_id, email, role, password)


def create_user(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        if password is not None:
            passwords.check_strength(password)
        added = asyncio.run(add_user(get_settings().database_url, args.app, args.email,
                                     args.role, password))
    except (passwords.WeakPassword, users.InvalidEmail, users.LastAdmin) as exc:
        raise CommandError(str(exc)) from None
    except apps.UnknownApp:
        raise CommandError(f"no app with application key {args.app}") from None
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None
    if args.json:
        print(json.dumps({"email": added.member.email, "applicationKey": args.app,
                          "role": args.role, "created": added.created,
                          "password": added.password}))
    else:
        print(f"{added.member.email} is {args.role} of {args.app}"
              + ("" if added.created else " (existing account: its password is unchanged)"))
        if added.password is not None:
            print(f"password (shown once): {added.password}")
    return 0


async def _members(database_url: str, app_key: str) -> list[users.Member]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        app_id = await users.app_id_of(conn, app_key)
        if app_id is None:
            raise apps.UnknownApp(app_key)
        return await users.members(conn, app_id)


def list_users(args: argparse.Namespace) -> int:
    try:
        found = asyncio.run(_members(get_settings().database_url, args.app))
    except apps.UnknownApp:
        raise CommandError(f"no app with application key {args.app}") from None
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None
    if args.json:
        print(json.dumps([{"email": m.email, "role": m.role} for m in found]))
    else:
        for m in found:
            print(f"{m.email}  {m.role}")
    return 0
