"""A real Celery DLR worker subprocess for the session (``celery -A workers worker``), consuming
the tests' own DLR list (see ``helpers.TEST_DLR_QUEUE``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.dlr.helpers import TEST_DLR_QUEUE, celery_worker_args, shared_process


@pytest.fixture(scope="session")
def dlr_worker(request: pytest.FixtureRequest, pushflow_env: dict[str, str],
               service_dir: Path) -> None:
    shared_process(request, "dlr-worker", celery_worker_args(TEST_DLR_QUEUE),
                   service_dir / "dlr-worker.log")
