"""`make up` as a newcomer runs it: in a second clone against a database that already has a demo
app it reuses that app, and Ctrl-C ends it without a make error line."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pushflow.up.bootstrap import ensure_demo_key
from tests.pushflow.up.conftest import start_system, stop_system, through_make
from tests.pushflow.up.test_system import apns_token


def test_make_up_in_a_second_clone_reuses_the_demo_app_and_stops_cleanly(
    pushflow_env: dict[str, str],
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="pushflow-make-up-"))
    try:
        # The first clone's demo app, made by its own `make up` (its data folder, not ours).
        first_app, _, _ = ensure_demo_key(pushflow_env["PUSHFLOW_DATABASE_URL"],
                                          folder / "first-clone" / "demo.json")
        (folder / "second-clone").mkdir()
        system = start_system(folder / "second-clone", command=through_make)
        try:
            assert system.demo["applicationKey"] == first_app
            status, _, body = system.request(
                "POST", "/v2.1/push", {"device_tokens": [apns_token()], "content": "clone 2"})
            assert status == 202, body  # its new key works for the shared app
        finally:
            returncode = stop_system(system)
        log = system.log_text()
        assert "make: ***" not in log, log[-2000:]
        assert returncode is not None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
