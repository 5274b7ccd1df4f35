"""The batch consumer's start in a real send worker: once its runtimes run, the process's
startup objects are frozen out of the collector's full passes (shared/gc_pauses.py)."""

from __future__ import annotations

from collections.abc import Callable

from workers.delivery.testing import WorkerProcess, wait_for


def test_a_send_worker_freezes_its_startup_objects_once_it_consumes(
        start_worker: Callable[..., WorkerProcess]) -> None:
    worker = start_worker(["fcm.tx", "fcm.bulk"])
    assert worker.log_path is not None
    log_path = worker.log_path

    def frozen_line() -> str | None:
        lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
        consuming = any("consuming fcm.tx,fcm.bulk" in line for line in lines)
        found = [line for line in lines if "startup objects frozen" in line]
        return found[0] if consuming and found else None

    line = wait_for(frozen_line, 30, "the worker's freeze line",
                    show=lambda: log_path.read_text(errors="replace")[-2000:])
    count = int(line.split("startup objects frozen")[0].split()[-1])
    assert count > 50_000, line  # the imports alone hold ~95,000 tracked objects
