"""A task used only by test_worker_observability: logs one line about its job."""

from __future__ import annotations

import logging
from typing import Any

from workers import app

TASK = "pushflow.test.log_job"


@app.task(name=TASK, ignore_result=True)
def log_job(job: dict[str, Any]) -> None:
    logging.getLogger("pushflow.test.job").info("handled job for %s", job["token"])
