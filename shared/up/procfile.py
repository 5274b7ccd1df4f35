"""The processes of ``pushflow up``, as honcho runs them and as a Procfile shows them.

Each engineer's command is used when the ``pushflow`` CLI has it; otherwise the plain Celery
command for the same queues stands in (``celery -A workers worker -Q fcm.tx,fcm.bulk``), so
``pushflow up`` works at every stage of the project. Every process gets its own metrics port
(``PUSHFLOW_METRICS_PORT``) and process type (``PUSHFLOW_PROCESS_TYPE``, named in its logs).
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import queues

# Loaded into every Celery worker this file starts, whatever the app's ``include`` says.
WORKER_INCLUDES = "workers.observability,workers.periodic"


@dataclass(frozen=True)
class UpPorts:
    api: int = 8080
    flower: int = 5555
    # The sandbox's own defaults (`pushflow sandbox --help`); 2197 is APNs' alternative port.
    sandbox_apns: int = 2197
    sandbox_fcm: int = 8444
    sandbox_oauth: int = 8445
    sandbox_control: int = 8446
    metrics_base: int = 9101  # worker-fcm, worker-apns, dlr, webhooks get base, base+1, ...

    def sandbox_urls(self) -> dict[str, str]:
        return {
            "fcmUrl": f"https://127.0.0.1:{self.sandbox_fcm}",
            "apnsUrl": f"https://127.0.0.1:{self.sandbox_apns}",
        }


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The shell line honcho runs; ``exec`` so signals reach the program, not a shell."""
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        line = shlex.join(self.argv)
        return f"exec env {assignments} {line}" if assignments else f"exec {line}"


def cli_commands() -> dict[str, set[str]]:
    """What the ``pushflow`` CLI offers right now: top-level commands -> their subcommands."""
    from shared.cli.main import build_parser

    found: dict[str, set[str]] = {}
    for action in build_parser()._subparsers._group_actions:  # type: ignore[union-attr]
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = _subcommands(sub)
    return found


def _subcommands(parser: Any) -> set[str]:
    names: set[str] = set()
    for action in getattr(parser, "_actions", ()):
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return names


def _celery_worker(name: str, queue_names: tuple[str, ...], concurrency: int) -> tuple[str, ...]:
    return ("celery", "-A", "workers", "worker", "-Q", ",".join(queue_names),
            "-n", f"{name}@%h", "--include", WORKER_INCLUDES,
            "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-mingle",
            "--without-gossip")


def build_processes(ports: UpPorts, data_dir: Path, *, api_host: str = "127.0.0.1",
                    flower: bool = True, commands: dict[str, set[str]] | None = None,
                    beat: bool = True) -> list[ProcessSpec]:
    """Every process of a one-machine Pushflow, in start order."""
    cli = cli_commands() if commands is None else commands
    sandbox_dir = data_dir / "sandbox"
    specs = [
        ProcessSpec("api", ("pushflow", "api", "--host", api_host, "--port", str(ports.api)),
                    {"PUSHFLOW_PROCESS_TYPE": "api"}),
    ]
    if "sandbox" in cli:
        specs.append(ProcessSpec("sandbox", (
            "pushflow", "sandbox", "--write-credentials", str(sandbox_dir),
            "--fcm-port", str(ports.sandbox_fcm), "--apns-port", str(ports.sandbox_apns),
            "--oauth-port", str(ports.sandbox_oauth), "--control-port", str(ports.sandbox_control),
        ), {"PUSHFLOW_PROCESS_TYPE": "sandbox"}))
    metrics_port = ports.metrics_base
    for gateway in ("fcm", "apns"):
        lanes = (f"{gateway}.tx", f"{gateway}.bulk")
        argv: tuple[str, ...]
        if "worker" in cli:  # one process, solo pool: its own registry is complete
            argv = ("pushflow", "worker", gateway, "--lanes", "tx,bulk")
        else:
            argv = _celery_worker(f"worker-{gateway}", lanes, 2)
        specs.append(ProcessSpec(f"worker-{gateway}", argv, _worker_env(
            f"worker-{gateway}", metrics_port, data_dir, prefork="worker" not in cli)))
        metrics_port += 1
    specs.append(ProcessSpec("dlr", _celery_worker("dlr", (queues.DLR,), 2),
                             _worker_env("dlr", metrics_port, data_dir, prefork=True)))
    metrics_port += 1
    # The webhook sender is an asyncio loop of its own (shared/cli/dlr_commands.py).
    webhooks_argv = ("pushflow", "webhooks-worker")
    specs.append(ProcessSpec("webhooks", webhooks_argv, _worker_env(
        "webhooks", metrics_port, data_dir, prefork="webhooks-worker" not in cli)))
    if beat:
        specs.append(ProcessSpec("beat", (
            "celery", "-A", "workers.periodic", "beat", "--loglevel", "INFO",
            "--schedule", str(data_dir / "celerybeat-schedule"),
        ), {"PUSHFLOW_PROCESS_TYPE": "beat"}))
    if flower:
        specs.append(ProcessSpec("flower", (
            "celery", "-A", "workers", "flower", f"--port={ports.flower}",
            "--address=127.0.0.1", f"--db={data_dir / 'flower.db'}", "--persistent=False",
        ), {"PUSHFLOW_PROCESS_TYPE": "flower"}))
    return specs


def _worker_env(process_type: str, metrics_port: int, data_dir: Path,
                *, prefork: bool) -> dict[str, str]:
    env = {"PUSHFLOW_PROCESS_TYPE": process_type, "PUSHFLOW_METRICS_PORT": str(metrics_port)}
    if prefork:
        # Prefork children increment the counters; the endpoint in the parent merges them.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(data_dir / "metrics" / process_type)
    return env


def render_procfile(specs: list[ProcessSpec]) -> str:
    lines = ["# Rendered by `pushflow up`; shared settings are in up.env beside this file."]
    lines.extend(f"{spec.name}: {spec.command}" for spec in specs)
    return "\n".join(lines) + "\n"
