"""A real Celery DLR worker subprocess for the session, consuming the ``dlr`` list."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.dlr.helpers import celery_worker_args, shared_process


@pytest.fixture(scope="session")
def dlr_worker(request: pytest.FixtureRequest, pushflow_env: dict[str, str],
               service_dir: Path) -> None:
    shared_process(request, "dlr-worker", celery_worker_args("dlr"),
                   service_dir / "dlr-worker.log")
