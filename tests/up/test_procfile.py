"""The process list of `pushflow up`: the engineers' commands when the CLI has them, plain Celery
commands for the same queues when it does not; one metrics port per worker type."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.up.procfile import UpPorts, build_processes, cli_commands, render_procfile

REPO = Path(__file__).resolve().parents[2]
FULL_CLI = {"api": set(), "sandbox": set(), "worker": set(), "webhooks-worker": set(),
            "apps": {"create", "credentials"}}


def by_name(commands: dict[str, set[str]]) -> dict[str, list[str]]:
    specs = build_processes(UpPorts(), Path("/data"), commands=commands)
    return {spec.name: list(spec.argv) for spec in specs}


def test_uses_each_engineers_command_when_the_cli_has_it() -> None:
    argv = by_name(FULL_CLI)
    assert argv["worker-fcm"] == ["pushflow", "worker", "fcm", "--lanes", "tx,bulk"]
    assert argv["worker-apns"] == ["pushflow", "worker", "apns", "--lanes", "tx,bulk"]
    assert argv["webhooks"] == ["pushflow", "webhooks-worker"]
    assert argv["sandbox"][:4] == ["pushflow", "sandbox", "--write-credentials", "/data/sandbox"]
    assert argv["dlr"][:6] == ["celery", "-A", "workers", "worker", "-Q", "dlr"]
    assert argv["beat"][:4] == ["celery", "-A", "workers.periodic", "beat"]
    assert argv["flower"][:4] == ["celery", "-A", "workers", "flower"]


def test_falls_back_to_celery_for_the_same_queues() -> None:
    argv = by_name({"api": set()})
    assert "sandbox" not in argv
    assert argv["worker-fcm"][4:6] == ["-Q", "fcm.tx,fcm.bulk"]
    assert argv["worker-apns"][4:6] == ["-Q", "apns.tx,apns.bulk"]


def test_each_worker_type_gets_its_own_metrics_port_and_process_type() -> None:
    specs = build_processes(UpPorts(metrics_base=9300), Path("/data"), commands=FULL_CLI)
    ports = {s.name: s.env.get("PUSHFLOW_METRICS_PORT") for s in specs}
    assert ports == {"api": None, "sandbox": None, "worker-fcm": "9300", "worker-apns": "9301",
                     "dlr": "9302", "webhooks": "9303", "beat": None, "flower": None}
    assert all(s.env["PUSHFLOW_PROCESS_TYPE"] == s.name for s in specs)
    rendered = render_procfile(specs)
    assert "dlr: exec env PROMETHEUS_MULTIPROC_DIR=/data/metrics/dlr" in rendered
    assert "worker-fcm: exec env PUSHFLOW_METRICS_PORT=9300" in rendered  # solo pool


def test_the_cli_in_this_tree_is_detected() -> None:
    found = cli_commands()
    assert {"api", "migrate", "up"} <= set(found)
    assert "create" in found["apps"]


def test_print_procfile_starts_nothing() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "pushflow"), "up",
                           "--print-procfile", "--api-port", "18123"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "api: exec env PUSHFLOW_PROCESS_TYPE=api pushflow api --host 127.0.0.1 --port 18123" in (
        done.stdout)


def test_make_up_runs_pushflow_up() -> None:
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would add "Entering/Leaving
    # directory" lines; run this make as a top-level one.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(["make", "--no-print-directory", "-n", "up"], capture_output=True,
                          text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith("pushflow up")
