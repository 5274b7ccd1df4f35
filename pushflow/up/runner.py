"""``pushflow up``: services, migrations, demo data, then every process under one honcho
manager in the foreground. Ctrl-C (or SIGTERM) makes honcho send SIGTERM to each process group,
then SIGKILL after 5 s; the embedded servers are stopped last, so nothing is left running.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from honcho.manager import SIGNALS, Manager

from pushflow.up import bootstrap
from pushflow.up.embedded import Services, ensure_services
from pushflow.up.panel_admin import ensure_demo_admin
from pushflow.up.printer import as_record, make_printer
from pushflow.up.procfile import ProcessSpec, UpPorts, build_processes, render_procfile
from shared.db.migrate import migrate
from shared.observability.exporter import MULTIPROC_ENV, reset_multiprocess_dir
from shared.settings import get_settings

READY_TIMEOUT_SECONDS = 120.0
# The codes honcho's manager gives when it stopped everything on SIGINT or SIGTERM.
_STOPPED_BY_SIGNAL = {SIGNALS[signal.SIGINT]["rc"], SIGNALS[signal.SIGTERM]["rc"]}
# Files the sandbox rewrites on each start because they name its ports: removed before it
# starts, so the bootstrap never reads a previous run's.
_PORT_DEPENDENT = ("fcm-service-account.json", "sandbox.env")


@dataclass
class UpOptions:
    ports: UpPorts = field(default_factory=UpPorts)
    api_host: str = "127.0.0.1"
    flower: bool = True
    data_dir: Path | None = None
    json_lines: bool = True  # PUSHFLOW_LOG_JSON: every printed line a JSON record


def child_env(options: UpOptions, services: Services, data_dir: Path) -> dict[str, str]:
    """The environment every process starts with (on top of this one)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.update({
        "PUSHFLOW_REDIS_URL": services.redis_url,
        "PUSHFLOW_DATABASE_URL": services.database_url,
        "PUSHFLOW_DATA_DIR": str(data_dir),
        "PUSHFLOW_API_HOST": options.api_host,
        "PUSHFLOW_API_PORT": str(options.ports.api),
        "PYTHONUNBUFFERED": "1",
    })
    # A development machine: local http webhook receivers are the norm. Explicit settings win.
    env.setdefault("PUSHFLOW_WEBHOOK_ALLOW_HTTP", "true")
    env.setdefault("PUSHFLOW_WEBHOOK_ALLOW_PRIVATE", "true")
    # Every gateway is the sandbox's: a development machine sends nothing to Google or Apple.
    urls = options.ports.sandbox_urls()
    env.update({
        "PUSHFLOW_FCM_URL": urls["fcmUrl"],
        "PUSHFLOW_APNS_SANDBOX_URL": urls["apnsUrl"],
        "PUSHFLOW_APNS_PRODUCTION_URL": urls["apnsUrl"],
        "PUSHFLOW_GATEWAY_CA_FILE": str(data_dir / "sandbox" / "ca.pem"),
    })
    return env


def wait_ready(url: str, timeout: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


class Bootstrap(threading.Thread):
    """Runs beside honcho: loads the sandbox credentials once the sandbox wrote them, waits for
    the API to be ready, writes demo.json and prints how to use the system."""

    def __init__(self, *, demo: tuple[str, str, bool], admin: tuple[str, str, bool],
                 data_dir: Path, options: UpOptions, specs: list[ProcessSpec],
                 env: dict[str, str]) -> None:
        super().__init__(name="pushflow-bootstrap", daemon=True)
        self.demo, self.admin, self.data_dir, self.options = demo, admin, data_dir, options
        self.specs, self.env = specs, env
        self.stopping = threading.Event()

    def say(self, text: str, level: int = logging.INFO) -> None:
        say(text, self.options.json_lines, level)

    def alive(self) -> bool:
        return not self.stopping.is_set()

    def run(self) -> None:
        app_key, secret, created = self.demo
        loaded: list[str] = []
        sandbox_dir = self.data_dir / "sandbox"
        if bootstrap.wait_for_files(sandbox_dir, bootstrap.SANDBOX_FILES, 60, self.alive):
            try:
                loaded = bootstrap.load_credentials(app_key, sandbox_dir, self.env)
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                self.say(str(exc), logging.ERROR)
        else:
            self.say(f"the sandbox did not write its credentials into {sandbox_dir}",
                     logging.ERROR)
        ports = self.options.ports
        host = self.options.api_host
        api_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{ports.api}"
        ready = wait_ready(api_url + "/readyz", READY_TIMEOUT_SECONDS, self.alive)
        metrics = {"api": api_url + "/metrics"}
        for spec in self.specs:
            port = spec.env.get("PUSHFLOW_METRICS_PORT")
            if port:
                metrics[spec.name] = f"http://127.0.0.1:{port}/metrics"
        demo = bootstrap.Demo(
            applicationKey=app_key, secret=secret, apiUrl=api_url,
            flowerUrl=f"http://127.0.0.1:{ports.flower}" if self.options.flower else "",
            metricsUrls=metrics, credentials=loaded, panelUrl=api_url + "/panel/",
            panelEmail=self.admin[0], panelPassword=self.admin[1],
        )
        demo.write(self.data_dir / "demo.json")
        if self.alive():
            say_banner(banner(demo, created, ready, self.data_dir))


def say(text: str, json_lines: bool, level: int = logging.INFO) -> None:
    """A line of ``pushflow up``'s own, beside the processes' (same prefix, same format)."""
    if json_lines:
        text = as_record("up", text, logger="pushflow.up", level=level)
    elif level >= logging.WARNING:
        text = f"{logging.getLevelName(level)} {text}"
    say_banner(text)


def say_banner(text: str) -> None:
    """Text for the person at the terminal, never JSON (the exception docs/operations.md
    names)."""
    sys.stdout.write("".join(f"up     | {line}\n" for line in text.splitlines()))
    sys.stdout.flush()


def banner(demo: bootstrap.Demo, created: bool, ready: bool, data_dir: Path) -> str:
    state = "ready" if ready else "NOT ready (see the api lines above)"
    return "\n".join([
        f"Pushflow is {state}.",
        f"  API            {demo.apiUrl}   (application key {demo.applicationKey})",
        f"  API key        {demo.secret[:10]}... ({'new' if created else 'kept'};"
        f" full value in {data_dir / 'demo.json'})",
        f"  Panel          {demo.panelUrl}   (sign in as {demo.panelEmail},"
        f" password {demo.panelPassword})",
        f"  Flower         {demo.flowerUrl or 'off'}",
        f"  Credentials    {', '.join(demo.credentials) or 'none loaded'}",
        "  Send a push:   see README.md; Ctrl-C stops everything.",
    ])


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(options: UpOptions) -> int:
    # Until honcho installs its own handlers, SIGTERM unwinds like Ctrl-C, so the embedded
    # servers are stopped by the `finally` below instead of being left running.
    signal.signal(signal.SIGTERM, _interrupt)
    settings = get_settings()
    data_dir = (options.data_dir or settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    services = ensure_services(settings.redis_url, settings.database_url, data_dir)
    bootstrapper: Bootstrap | None = None
    try:
        for line in services.describe():
            say(line, options.json_lines)
        specs = build_processes(options.ports, data_dir, api_host=options.api_host,
                                flower=options.flower)
        env = child_env(options, services, data_dir)
        # This process migrates and bootstraps with the same settings its children get.
        os.environ.update({k: v for k, v in env.items() if k.startswith("PUSHFLOW_")})
        get_settings.cache_clear()
        applied = migrate(services.database_url)
        say("migrations applied: " + ", ".join(applied) if applied else "database is up to date",
            options.json_lines)
        demo = bootstrap.ensure_demo_key(services.database_url, data_dir / "demo.json")
        admin = ensure_demo_admin(services.database_url, demo[0], data_dir / "demo.json")
        for name in _PORT_DEPENDENT:
            (data_dir / "sandbox" / name).unlink(missing_ok=True)
        for spec in specs:
            if MULTIPROC_ENV in spec.env:
                reset_multiprocess_dir(spec.env[MULTIPROC_ENV])
        (data_dir / "Procfile").write_text(render_procfile(specs))
        manager = Manager(make_printer(options.json_lines))
        for spec in specs:
            manager.add_process(spec.name, spec.command, env=env, cwd=os.getcwd())
        bootstrapper = Bootstrap(demo=demo, admin=admin, data_dir=data_dir, options=options,
                                 specs=specs, env=env)
        bootstrapper.start()
        manager.loop()
        # Stopped by Ctrl-C or SIGTERM: what was asked for, not a failure (so `make up` ends
        # without an error line). A process that died first gives its own code.
        return 0 if manager.returncode in _STOPPED_BY_SIGNAL else int(manager.returncode or 0)
    finally:
        if bootstrapper is not None:
            bootstrapper.stopping.set()
        services.stop()
