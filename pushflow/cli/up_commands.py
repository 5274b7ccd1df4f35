"""``pushflow up``: run the whole system in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pushflow.cli.main import CommandError
from shared.settings import get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    from pushflow.up.procfile import UpPorts  # light: no honcho, no services

    p = sub.add_parser(
        "up", help="run API, workers, sandboxes, beat and Flower in the foreground (Ctrl-C stops)",
        description="Start Redis and PostgreSQL when none answers at the configured URLs"
        " (embedded, data under PUSHFLOW_DATA_DIR), migrate, create a demo app and key on first"
        " run (written to <data dir>/demo.json), then run every process under honcho.",
    )
    p.add_argument("--api-host", default=None, help="default: PUSHFLOW_API_HOST")
    p.add_argument("--api-port", type=int, default=None, help="default: PUSHFLOW_API_PORT")
    p.add_argument("--flower-port", type=int, default=UpPorts().flower)
    p.add_argument("--no-flower", action="store_true", help="do not start Flower")
    defaults = UpPorts()
    p.add_argument("--sandbox-apns-port", type=int, default=defaults.sandbox_apns)
    p.add_argument("--sandbox-fcm-port", type=int, default=defaults.sandbox_fcm)
    p.add_argument("--sandbox-oauth-port", type=int, default=defaults.sandbox_oauth)
    p.add_argument("--sandbox-control-port", type=int, default=defaults.sandbox_control)
    p.add_argument("--metrics-port-base", type=int, default=UpPorts().metrics_base,
                   help="first worker metrics port; each worker type takes the next")
    p.add_argument("--print-procfile", action="store_true",
                   help="print the processes that would run, then exit (starts nothing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushflow.up.embedded import EmbeddedUnavailable
    from pushflow.up.procfile import UpPorts, build_processes, render_procfile
    from pushflow.up.runner import UpOptions, run_up
    from shared.db.connect import DatabaseUnavailable

    settings = get_settings()
    options = UpOptions(
        ports=UpPorts(api=args.api_port or settings.api_port, flower=args.flower_port,
                      sandbox_fcm=args.sandbox_fcm_port, sandbox_apns=args.sandbox_apns_port,
                      sandbox_oauth=args.sandbox_oauth_port,
                      sandbox_control=args.sandbox_control_port,
                      metrics_base=args.metrics_port_base),
        api_host=args.api_host or settings.api_host,
        flower=not args.no_flower,
        data_dir=Path(settings.data_dir),
        json_lines=settings.log_json,
    )
    if args.print_procfile:
        data_dir = Path(settings.data_dir).resolve()
        print(render_procfile(build_processes(options.ports, data_dir, api_host=options.api_host,
                                              flower=options.flower)), end="")
        return 0
    try:
        return run_up(options)
    except (EmbeddedUnavailable, DatabaseUnavailable) as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:  # Ctrl-C before honcho took over: a stop, not a failure
        return 0
