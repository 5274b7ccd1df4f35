"""The processes of ``pushflow up``, as honcho runs them and as a Procfile shows them.

``PROCESS_TYPES`` declares every process once, in start order; ``build_processes`` fills in the
ports and folders of one run. Every worker type gets its own metrics port
(``PUSHFLOW_METRICS_PORT``) and every process its type (``PUSHFLOW_PROCESS_TYPE``, named in its
logs).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from shared import queues

# Loaded into the DLR worker whatever the Celery app's ``include`` says: its metrics endpoint and
# the periodic jobs beat schedules onto it.
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
class ProcessType:
    """One line of the table below. ``argv`` items may name ``{api_host}``, ``{data_dir}`` and
    any ``UpPorts`` field in braces."""

    name: str
    argv: tuple[str, ...]
    metrics: bool = False  # a worker type: serves /metrics on a port of its own
    prefork: bool = False  # several processes share its counters (PROMETHEUS_MULTIPROC_DIR)


# Celery's own banners are plain text: ``--quiet`` leaves only the JSON log lines.
PROCESS_TYPES = (
    ProcessType("api", ("pushflow", "api", "--host", "{api_host}", "--port", "{api}")),
    ProcessType("sandbox", (
        "pushflow", "sandbox", "--write-credentials", "{data_dir}/sandbox",
        "--fcm-port", "{sandbox_fcm}", "--apns-port", "{sandbox_apns}",
        "--oauth-port", "{sandbox_oauth}", "--control-port", "{sandbox_control}")),
    # One process per gateway, solo pool: its own metrics registry is complete.
    # ``--events`` / ``-E``: Celery task events of every task and send, what Flower shows.
    ProcessType("worker-fcm", ("pushflow", "worker", "fcm", "--lanes", "tx,bulk", "--events"),
                metrics=True),
    ProcessType("worker-apns", ("pushflow", "worker", "apns", "--lanes", "tx,bulk", "--events"),
                metrics=True),
    ProcessType("dlr", (
        "celery", "-A", "workers", "--quiet", "worker", "-Q", queues.DLR, "-n", "dlr@%h",
        "--include", WORKER_INCLUDES, "--concurrency", "2", "--loglevel", "INFO",
        "--without-mingle", "--without-gossip", "-E"), metrics=True, prefork=True),
    # The webhook sender is an asyncio loop of its own (pushflow/cli/dlr_commands.py).
    ProcessType("webhooks", ("pushflow", "webhooks-worker"), metrics=True),
    # Campaigns: feeds the bulk lanes from the ledger in PostgreSQL (workers/campaigns/pacer.py).
    ProcessType("pacer", ("pushflow", "pacer")),
    ProcessType("beat", (
        "celery", "-A", "workers.periodic", "--quiet", "beat", "--loglevel", "INFO",
        "--schedule", "{data_dir}/celerybeat-schedule")),
    ProcessType("flower", (
        "celery", "-A", "workers", "flower", "--port={flower}", "--address=127.0.0.1",
        "--db={data_dir}/flower.db", "--persistent=False",
        # Flower's tornado log lines are text: only its warnings (the banner names its URL).
        "--logging=warning")),
)


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


def build_processes(ports: UpPorts, data_dir: Path, *, api_host: str = "127.0.0.1",
                    flower: bool = True, beat: bool = True) -> list[ProcessSpec]:
    """Every process of a one-machine Pushflow, in start order."""
    values = {**vars(ports), "api_host": api_host, "data_dir": str(data_dir)}
    left_out = {name for name, wanted in (("flower", flower), ("beat", beat)) if not wanted}
    specs = []
    metrics_port = ports.metrics_base
    for kind in PROCESS_TYPES:
        if kind.name in left_out:
            continue
        env = {"PUSHFLOW_PROCESS_TYPE": kind.name}
        if kind.metrics:
            env["PUSHFLOW_METRICS_PORT"] = str(metrics_port)
            metrics_port += 1
        if kind.prefork:
            # Prefork children increment the counters; the endpoint in the parent merges them.
            env["PROMETHEUS_MULTIPROC_DIR"] = str(data_dir / "metrics" / kind.name)
        argv = tuple(part.format(**values) for part in kind.argv)
        specs.append(ProcessSpec(kind.name, argv, env))
    return specs


def render_procfile(specs: list[ProcessSpec]) -> str:
    lines = ["# Rendered by `pushflow up`: what it runs (each process also gets its environment)."]
    lines.extend(f"{spec.name}: {spec.command}" for spec in specs)
    return "\n".join(lines) + "\n"
