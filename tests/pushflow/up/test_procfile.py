"""The process list of `pushflow up`: every declared process type with this run's ports and
folders; one metrics port per worker type."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pushflow.cli.main import build_parser
from pushflow.up.procfile import UpPorts, build_processes, render_procfile

REPO = Path(__file__).resolve().parents[3]


def by_name(**kwargs: bool) -> dict[str, list[str]]:
    specs = build_processes(UpPorts(), Path("/data"), **kwargs)
    return {spec.name: list(spec.argv) for spec in specs}


def test_each_process_runs_its_command_with_this_runs_ports_and_folders() -> None:
    argv = by_name()
    assert list(argv) == ["api", "sandbox", "worker-fcm", "worker-apns", "dlr", "webhooks",
                          "pacer", "beat", "flower"]
    assert argv["api"] == ["pushflow", "api", "--host", "127.0.0.1", "--port", "8080"]
    # --events / -E: the workers send Celery task events (Flower lists tasks and sends).
    assert argv["worker-fcm"] == ["pushflow", "worker", "fcm", "--lanes", "tx,bulk", "--events"]
    assert argv["worker-apns"] == ["pushflow", "worker", "apns", "--lanes", "tx,bulk",
                                   "--events"]
    assert argv["webhooks"] == ["pushflow", "webhooks-worker"]
    assert argv["pacer"] == ["pushflow", "pacer"]
    assert argv["sandbox"][:4] == ["pushflow", "sandbox", "--write-credentials", "/data/sandbox"]
    assert argv["sandbox"][4:6] == ["--fcm-port", "8444"]
    assert argv["dlr"][:7] == ["celery", "-A", "workers", "--quiet", "worker", "-Q", "dlr"]
    assert "dlr@%h" in argv["dlr"] and "-E" in argv["dlr"]
    assert argv["beat"][:5] == ["celery", "-A", "workers.periodic", "--quiet", "beat"]
    assert argv["beat"][-1] == "/data/celerybeat-schedule"
    assert argv["flower"][:4] == ["celery", "-A", "workers", "flower"]
    assert "--port=5555" in argv["flower"] and "--db=/data/flower.db" in argv["flower"]


def test_flower_and_beat_can_be_left_out() -> None:
    assert set(by_name()) - set(by_name(flower=False, beat=False)) == {"flower", "beat"}


def test_every_pushflow_line_parses_with_the_cli() -> None:
    parser = build_parser()
    lines = [spec.argv for spec in build_processes(UpPorts(), Path("/data"))
             if spec.argv[0] == "pushflow"]
    assert len(lines) == 6
    for argv in lines:
        assert parser.parse_args(list(argv[1:])).command == argv[1]  # argparse exits on a typo


def test_each_worker_type_gets_its_own_metrics_port_and_process_type() -> None:
    specs = build_processes(UpPorts(metrics_base=9300), Path("/data"))
    ports = {s.name: s.env.get("PUSHFLOW_METRICS_PORT") for s in specs}
    assert ports == {"api": None, "sandbox": None, "worker-fcm": "9300", "worker-apns": "9301",
                     "dlr": "9302", "webhooks": "9303", "pacer": None, "beat": None,
                     "flower": None}
    assert all(s.env["PUSHFLOW_PROCESS_TYPE"] == s.name for s in specs)
    rendered = render_procfile(specs)
    assert "dlr: exec env PROMETHEUS_MULTIPROC_DIR=/data/metrics/dlr" in rendered
    assert "worker-fcm: exec env PUSHFLOW_METRICS_PORT=9300" in rendered  # solo pool


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
