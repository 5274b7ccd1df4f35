"""The cURL, Python, PHP and Java examples of docs/examples against a running system: a real
``pushflow api`` process, a sandbox gateway, a send worker and a DLR worker. Each example sends
a push and reads its status ("sent"), finds ``.pushflow/demo.json`` from any directory, prints
an error answer readably (no traceback) and says what it needs when there is no key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pushflow.up.bootstrap import Demo, ensure_demo_key, load_credentials
from sandbox.testing import SandboxProcess
from shared import queues
from tests.producer.conftest import api_process, ios_token
from tests.services import patched_env
from tests.workers.conftest import SEND_QUEUES, WORKER_ENV
from tests.workers.dlr.helpers import celery_worker_args, running_alive
from workers.delivery.testing import WorkerProcess, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
# How each language runs its two examples.
COMMANDS = {
    "curl": (["bash", "curl/send.sh"], ["bash", "curl/status.sh"]),
    "python": ([sys.executable, "python/send.py"], [sys.executable, "python/status.py"]),
    "php": (["php", "php/send.php"], ["php", "php/status.php"]),
    "java": (["java", "java/Pushflow.java", "send"], ["java", "java/Pushflow.java", "status"]),
}
# What the examples read instead of the demo file: unset, so the file is what they use.
OVERRIDES = ("PUSHFLOW_API_URL", "PUSHFLOW_APP_KEY", "PUSHFLOW_SECRET", "PUSHFLOW_DEMO",
             "PUSHFLOW_DATA_DIR")


@dataclass(frozen=True)
class System:
    api_url: str
    demo: dict[str, str]
    checkout: Path  # a copy of docs/examples in a checkout with its .pushflow/demo.json
    elsewhere: Path  # a directory outside that checkout


@pytest.fixture(scope="module")
def system(pushflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("examples")
    checkout = tmp / "checkout"
    shutil.copytree(EXAMPLES, checkout / "docs" / "examples")
    (tmp / "elsewhere").mkdir()
    with (SandboxProcess(tmp / "sandbox") as sandbox, patched_env(sandbox.env()),
          WorkerProcess(SEND_QUEUES, env=WORKER_ENV, log_path=tmp / "worker.log"),
          running_alive(celery_worker_args(queues.DLR), tmp / "dlr.log"),
          api_process() as (api_url, _proc)):
        # What `pushflow up` does on first run: a demo app and key, the sandbox's credentials
        # loaded through the CLI, and the demo file.
        demo_path = checkout / ".pushflow" / "demo.json"
        app_key, secret, _ = ensure_demo_key(pushflow_env["PUSHFLOW_DATABASE_URL"], demo_path)
        cli_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        credentials = load_credentials(app_key, sandbox.credentials_dir, cli_env)
        Demo(app_key, secret, api_url, "http://127.0.0.1:5555", {}, credentials).write(demo_path)
        yield System(api_url, json.loads(demo_path.read_text()), checkout, tmp / "elsewhere")


def run(command: list[str], *args: str, cwd: Path, examples: Path,
        **env: str) -> subprocess.CompletedProcess[str]:
    """An example (paths in ``command`` relative to ``examples``) run from ``cwd``."""
    argv = [command[0], *(str(examples / part) if "/" in part else part for part in command[1:])]
    clean = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    return subprocess.run([*argv, *args], cwd=cwd, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)


def require(language: str) -> None:
    tool = COMMANDS[language][0][0]
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is needed for the {language} examples (.ci/run installs it)")
    if language == "php":
        modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout
        assert "curl" in modules.split(), "php-curl is needed (.ci/run installs it)"


def wait_sent(system: System, message_id: str) -> None:
    headers = {"Authorization": system.demo["secret"],
               "Application-Key": system.demo["applicationKey"]}

    def sent() -> bool:
        answer = httpx.get(f"{system.api_url}/v2.1/push/{message_id}", headers=headers)
        return all(d["status"] == "sent" for d in answer.json()["data"][0]["dispatches"])

    wait_for(sent, timeout=45, interval=0.2, what=f"message {message_id} sent")


@pytest.mark.parametrize("language", list(COMMANDS))
@pytest.mark.parametrize("where", ["inside", "elsewhere"])
def test_example_sends_a_push_and_reads_its_status(system: System, language: str,
                                                   where: str) -> None:
    require(language)
    send, status = COMMANDS[language]
    examples = system.checkout / "docs" / "examples"
    # Inside the checkout the demo file is found above the current directory; elsewhere, above
    # the example's own.
    cwd = system.checkout / "docs" if where == "inside" else system.elsewhere
    sent = run(send, ios_token(), cwd=cwd, examples=examples)
    assert sent.returncode == 0, sent.stderr
    message_id = json.loads(sent.stdout)["data"][0]["messageId"]
    wait_sent(system, message_id)
    read = run(status, message_id, cwd=cwd, examples=examples)
    assert read.returncode == 0, read.stderr
    answer = json.loads(read.stdout)["data"][0]
    assert answer["messageId"] == message_id
    assert [d["status"] for d in answer["dispatches"]] == ["sent"]


@pytest.mark.parametrize("language", list(COMMANDS))
def test_example_prints_an_error_answer_readably(system: System, language: str) -> None:
    require(language)
    send, status = COMMANDS[language]
    examples = system.checkout / "docs" / "examples"
    refused = run(send, ios_token(), cwd=system.elsewhere, examples=examples,
                  PUSHFLOW_SECRET="pf_not-a-key")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("HTTP 401 UNAUTHORIZED: "), refused.stderr
    assert lines[-1].startswith("request id "), refused.stderr
    missing = run(status, "0" * 26, cwd=system.elsewhere, examples=examples)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert missing.stderr.startswith("HTTP 404 NOT_FOUND: "), missing.stderr
    for answer in (refused, missing):
        assert "Traceback" not in answer.stderr and "Exception" not in answer.stderr


@pytest.mark.parametrize("language", list(COMMANDS))
def test_example_without_a_key_says_what_it_needs(system: System, language: str,
                                                  tmp_path: Path) -> None:
    require(language)
    send, _ = COMMANDS[language]
    lone = tmp_path / "examples"  # a copy with no demo file above it or the current directory
    shutil.copytree(EXAMPLES, lone)
    done = run(send, ios_token(), cwd=tmp_path, examples=lone)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "make up" in done.stderr and "PUSHFLOW_APP_KEY" in done.stderr
    named = run(send, ios_token(), cwd=tmp_path, examples=lone,
                PUSHFLOW_DEMO=str(tmp_path / "absent.json"))
    assert named.returncode == 2 and "absent.json does not exist" in named.stderr


def test_examples_read_the_data_dir_as_pushflow_up_writes_it(system: System,
                                                             tmp_path: Path) -> None:
    lone = tmp_path / "examples"
    shutil.copytree(EXAMPLES, lone)
    data_dir = system.checkout / ".pushflow"
    for language, (send, _) in COMMANDS.items():
        require(language)
        done = run(send, ios_token(), cwd=tmp_path, examples=lone,
                   PUSHFLOW_DATA_DIR=str(data_dir))
        assert done.returncode == 0, (language, done.stderr)
        assert json.loads(done.stdout)["data"][0]["messageId"]


def test_examples_readme_names_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for send, status in COMMANDS.values():
        for command in (send, status):
            assert command[1] in readme
