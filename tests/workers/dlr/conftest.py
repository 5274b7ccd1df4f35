"""A real Celery DLR worker subprocess (``celery -A workers worker``) for this package's tests,
consuming the tests' own DLR list (see ``helpers.TEST_DLR_QUEUE``); stopped when the package is
done, so nothing of ours runs while other areas' tests do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.dlr.helpers import TEST_DLR_QUEUE, celery_worker_args, running_alive


@pytest.fixture(scope="package")
def dlr_worker(pushflow_env: dict[str, str], service_dir: Path) -> Iterator[None]:
    with running_alive(celery_worker_args(TEST_DLR_QUEUE), service_dir / "dlr-worker.log"):
        yield
