"""schemathesis over ``/openapi.json``: every operation, against a real ``pushflow api`` process
with the session's PostgreSQL and Redis, authenticated with a key of every scope. Checks: no
5xx, status codes, content types and response bodies as documented.

This is the short run of ``make test`` (fixed seed, a bounded number of examples per operation);
``bench/schemathesis_long.py`` runs the same with many more.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.producer.conftest import api_process

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
SHORT_EXAMPLES = 20
SEED = 20261202
# Coverage and stateful phases (hundreds of cases per operation) are the long run's.
SHORT_PHASES = "examples,fuzzing"
_ST = Path(sys.executable).with_name("st")


def run_schemathesis(base_url: str, headers: dict[str, str], *, max_examples: int, seed: int,
                     report_dir: Path, timeout: float, phases: str = SHORT_PHASES
                     ) -> subprocess.CompletedProcess[str]:
    """``st run`` over the API's own document; its output (text) and exit code."""
    command = [str(_ST), "run", f"{base_url}/openapi.json", "--checks", ",".join(CHECKS),
               "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
               "--request-timeout", "30",
               "--phases", phases, "--no-color", "--generation-database", "none",
               "--generation-with-security-parameters", "false",
               "--report", "junit", "--report-dir", str(report_dir)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    # Run in the report folder: st keeps a cache of its own in its working directory.
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            check=False, cwd=report_dir)
    (report_dir / "output.txt").write_text(result.stdout + result.stderr)
    return result


def keep_log(proc: subprocess.Popen[bytes], path: Path) -> threading.Thread:
    """Copy the server's stderr to ``path`` as it comes: a pipe nobody reads fills up after a
    few hundred log lines and then blocks the server."""
    assert proc.stderr is not None
    stream = proc.stderr

    def copy() -> None:
        with path.open("wb") as out:
            shutil.copyfileobj(stream, out, 4096)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(900)
def test_every_operation_conforms_to_the_document(make_app: Any, tmp_path: Path) -> None:
    app = make_app("schemathesis")
    with api_process() as (base_url, proc):
        keep_log(proc, tmp_path / "api.log")
        result = run_schemathesis(base_url, app.headers(), max_examples=SHORT_EXAMPLES,
                                  seed=SEED, report_dir=tmp_path, timeout=600)
    assert result.returncode == 0, (result.stdout[-20_000:] + result.stderr[-5000:]
                                    + f"\nAPI log: {tmp_path / 'api.log'}")
