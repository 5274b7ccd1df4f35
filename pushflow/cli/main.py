"""``pushflow`` entry point. Each command group lives in its own module and registers itself;
heavy imports (the API server, Celery, the sandbox) happen only when their command runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from shared.settings import SettingsError

# Modules that each define ``register(subparsers, groups)``; commands set ``func`` on their
# parser. ``groups`` maps a command group ("apps", "keys") to its subparsers so a later module
# can add a subcommand to a group an earlier module created. Order matters for that reason.
COMMAND_MODULES = (
    "pushflow.cli.db_commands",
    "pushflow.cli.app_commands",
    "pushflow.cli.user_commands",
    "pushflow.cli.send_commands",
    "pushflow.cli.webhook_commands",
    "pushflow.cli.serve_commands",
    "pushflow.cli.sandbox_commands",
    "pushflow.cli.worker_commands",
    "pushflow.cli.dlr_commands",
    "pushflow.cli.pacer_commands",
    "pushflow.cli.up_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushflow", description="Pushflow push notifications")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"pushflow: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"pushflow: {exc}", file=sys.stderr)
        return 1


class CommandError(Exception):
    """A command failed for a reason the user can act on; printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
