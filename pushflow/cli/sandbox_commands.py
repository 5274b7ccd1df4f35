"""``pushflow sandbox``: run the sandbox FCM and APNs gateways (see docs/sandbox.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.settings import get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="run sandbox APNs and FCM gateways on loopback",
        description="Serve APNs (HTTP/2+TLS), FCM v1, an OAuth token endpoint and a control API. "
        "Prints one JSON line when ready. Port 0 picks a free port.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--apns-port", type=int, default=2197)
    p.add_argument("--fcm-port", type=int, default=8444)
    p.add_argument("--oauth-port", type=int, default=8445)
    p.add_argument("--control-port", type=int, default=8446)
    p.add_argument(
        "--latency-ms", type=float, default=0.0, help="answer every push after this delay"
    )
    p.add_argument(
        "--state-dir", type=Path, default=None, help="default: PUSHFLOW_DATA_DIR/sandbox"
    )
    p.add_argument(
        "--write-credentials",
        type=Path,
        default=None,
        metavar="DIR",
        help="write credentials and sandbox.env pointing at this sandbox into DIR",
    )
    p.add_argument("--no-serve", action="store_true", help="only write credentials, then exit")
    p.set_defaults(func=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    from pushflow.cli.main import CommandError

    if not 0 <= args.latency_ms <= 60_000:
        raise CommandError("--latency-ms must be between 0 and 60000")
    from sandbox.credentials import load_or_create, write_credentials
    from sandbox.server import SandboxConfig, run, urls_for

    state_dir = args.state_dir or get_settings().data_dir / "sandbox"
    config = SandboxConfig(
        host=args.host,
        apns_port=args.apns_port,
        fcm_port=args.fcm_port,
        oauth_port=args.oauth_port,
        control_port=args.control_port,
        latency_ms=args.latency_ms,
        state_dir=state_dir,
        credentials_dir=args.write_credentials,
    )
    if args.no_serve:
        if args.write_credentials is None:
            raise CommandError("--no-serve needs --write-credentials DIR")
        ports = {
            "apns": args.apns_port,
            "fcm": args.fcm_port,
            "oauth": args.oauth_port,
            "control": args.control_port,
        }
        files = write_credentials(
            load_or_create(state_dir), args.write_credentials, urls_for(args.host, ports)
        )
        print(
            json.dumps(
                {
                    "credentialsDir": str(args.write_credentials.resolve()),
                    "files": [f.name for f in files],
                }
            )
        )
        return 0
    from shared.observability.logs import configure_logging

    # Only its problems: the sandbox answers many requests a second.
    configure_logging("sandbox", level="WARNING")
    try:
        run(config)
    except OSError as exc:  # port in use, bad host: a user error, not a traceback
        raise CommandError(f"sandbox could not start: {exc}") from None
    return 0
