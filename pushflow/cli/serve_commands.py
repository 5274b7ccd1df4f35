"""``pushflow api``: serve the intake API."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from shared.settings import get_settings

if TYPE_CHECKING:
    from producer.hotpath import PushflowApp


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("api", help="serve the intake API")
    p.add_argument("--host", default=None, help="default: PUSHFLOW_API_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: PUSHFLOW_API_PORT or 8080")
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.set_defaults(func=run_api)


def served_app() -> PushflowApp:
    """The factory each server process calls: the app, with what building it left in memory
    frozen out of the collector's full passes (shared/gc_pauses.py)."""
    from producer.app import create_app
    from shared.gc_pauses import freeze_startup_objects

    app = create_app()
    freeze_startup_objects()
    return app


def run_api(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.observability.logs import configure_logging

    settings = get_settings()
    # uvicorn's own lines (a port in use, a bad request) go through the root logger, in the
    # same JSON (or text) format as the API's, not through uvicorn's text formatter.
    configure_logging("api")
    uvicorn.run(
        "pushflow.cli.serve_commands:served_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        # The stack the intake is measured on (bench/intake.py): named, not left to "auto".
        # httptools, with upgrades declined and the request head bounded (the module's doc).
        loop="uvloop",
        http="producer.http_server:PushflowHttpProtocol",
        ws="none",
        lifespan="on",
        log_level="warning",
        log_config=None,
        access_log=False,
    )
    return 0
