"""``pushflow worker`` and ``pushflow apps credentials``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pushflow.cli.main import CommandError


def register(sub: Any, groups: dict[str, Any]) -> None:
    w = sub.add_parser("worker", help="run a send worker (a Celery worker) for one gateway")
    w.add_argument("gateway", choices=("apns", "fcm"))
    w.add_argument("--lanes", default="tx,bulk",
                   help="lanes to consume, tx first (default: tx,bulk)")
    w.add_argument("--concurrency", type=int, default=None,
                   help="sends in flight in this process"
                        " (default: PUSHFLOW_DELIVERY_MAX_IN_FLIGHT)")
    w.add_argument("--loglevel", default="INFO")
    w.add_argument("--events", action="store_true",
                   help="send Celery task events of every send (Flower); Celery's -E")
    w.set_defaults(func=run_worker)

    apps_sub = groups["apps"]
    c = apps_sub.add_parser(
        "credentials", help="store an app's FCM or APNs credentials (checked, encrypted)")
    c.add_argument("app_key")
    c.add_argument("--fcm-service-account", type=Path, metavar="FILE")
    c.add_argument("--apns-key", type=Path, metavar="FILE", help="the .p8 token-signing key")
    c.add_argument("--apns-key-id")
    c.add_argument("--apns-team-id")
    c.add_argument("--apns-topic", help="bundle id (read from the certificate if omitted)")
    c.add_argument("--apns-cert", type=Path, metavar="FILE", help=".p12 or PEM (cert + key)")
    c.add_argument("--apns-cert-password", default=None, help="password of the .p12, if any")
    c.add_argument("--apns-sandbox", action="store_true",
                   help="send through APNs' development (sandbox) host")
    c.set_defaults(func=store_credentials)


def run_worker(args: argparse.Namespace) -> int:
    lanes = [lane.strip() for lane in args.lanes.split(",") if lane.strip()]
    bad = [lane for lane in lanes if lane not in ("tx", "bulk")]
    if bad or not lanes:
        raise CommandError(f"--lanes takes tx and/or bulk, not {','.join(bad) or 'nothing'}")
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        os.environ["PUSHFLOW_DELIVERY_MAX_IN_FLIGHT"] = str(args.concurrency)
    queues = ",".join(f"{args.gateway}.{lane}" for lane in lanes)
    # One process per gateway: the runtime's event loop does the concurrency, so the Celery pool
    # is "solo" (it only runs remote-control work).
    # --quiet: no text banner; the worker's JSON log lines say what it consumes.
    argv = [sys.executable, "-m", "celery", "-A", "workers", "--quiet", "worker", "-Q", queues,
            "--pool", "solo", "-n", f"{args.gateway}@%h", "--loglevel", args.loglevel,
            *(["-E"] if args.events else [])]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover - execv does not return


def store_credentials(args: argparse.Namespace) -> int:
    from domain.keys import store as apps
    from shared import credentials
    from shared.credentials import Credential, CredentialError
    from shared.db.connect import DatabaseUnavailable, connect
    from shared.settings import get_settings

    given = [n for n in ("fcm_service_account", "apns_key", "apns_cert") if getattr(args, n)]
    if len(given) != 1:
        raise CommandError(
            "give exactly one of --fcm-service-account, --apns-key or --apns-cert")
    try:
        cred: Credential
        if args.fcm_service_account:
            cred = credentials.parse_fcm_service_account(_read(args.fcm_service_account))
        elif args.apns_key:
            cred = credentials.parse_apns_key(
                _read(args.apns_key), args.apns_key_id or "", args.apns_team_id or "",
                args.apns_topic or "", args.apns_sandbox)
        else:
            password = args.apns_cert_password.encode() if args.apns_cert_password else None
            cred = credentials.parse_apns_certificate(
                _read(args.apns_cert), args.apns_topic, args.apns_sandbox, password)
    except CredentialError as exc:
        raise CommandError(f"credentials refused: {exc}") from None
    settings = get_settings()
    try:
        with connect(settings.database_url) as conn:
            try:
                app_id = apps.app_id_for(conn, args.app_key)
            except apps.UnknownApp:
                raise CommandError(f"no app with application key {args.app_key}") from None
            credentials.store(conn, app_id, cred, settings.fernet_key())
    except DatabaseUnavailable as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None
    print(f"stored {cred.provider} credentials ({cred.kind}) for {args.app_key}")
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
