"""First-run set-up for ``pushflow up``: a demo app, an API key with every scope, the sandbox
credentials loaded for it, and ``<data>/demo.json`` for scripts::

    {"applicationKey": "app_...", "secret": "pf_...", "apiUrl": "http://127.0.0.1:8080",
     "flowerUrl": "http://127.0.0.1:5555", ...}

The key is reused on later runs while it is valid; the app is found again by name, so a second
clone against the same database shares it (a reset database gets a new one). The sandbox
credentials are (re)loaded on every run, since they name the sandbox's ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from domain.keys import store as apps
from shared.db.connect import connect

DEMO_APP_NAME = "demo"
SANDBOX_FILES = ("fcm-service-account.json", "apns-key.p8", "apns.json", "ca.pem")


@dataclass(frozen=True)
class Demo:
    applicationKey: str  # camelCase: the JSON field names scripts read
    secret: str
    apiUrl: str
    flowerUrl: str
    metricsUrls: dict[str, str]
    credentials: list[str]
    # The panel and its demo admin (pushflow/up/panel_admin.py).
    panelUrl: str = ""
    panelEmail: str = ""
    panelPassword: str = ""

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds a secret
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
            fh.write("\n")
        tmp.replace(path)


def _key_still_valid(conn: Any, app_key: str, secret: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM api_keys k JOIN apps a ON a.id = k.app_id"
        " WHERE a.app_key = %s AND k.key_hash = %s AND k.revoked_at IS NULL",
        (app_key, apps.hash_secret(secret)),
    ).fetchone()
    return row is not None


def _demo_app(conn: Any, previous_app_key: object) -> str | None:
    """The app to give a new key: the one demo.json named if it still exists, else the oldest
    app called ``demo`` (another clone's, against the same database)."""
    row = conn.execute(
        "SELECT app_key FROM apps WHERE app_key = %s OR name = %s"
        " ORDER BY app_key = %s DESC, created_at, id LIMIT 1",
        (str(previous_app_key or ""), DEMO_APP_NAME, str(previous_app_key or "")),
    ).fetchone()
    return str(row[0]) if row else None


def ensure_demo_key(database_url: str, demo_path: Path) -> tuple[str, str, bool]:
    """(application key, secret, created) of the demo app. The key in demo.json is kept while
    it is valid; otherwise the demo app gets a new key (the old secret is not recoverable: only
    its hash is stored), and the app is created only when the database has none."""
    previous: dict[str, Any] = {}
    if demo_path.exists():
        try:
            previous = json.loads(demo_path.read_text())
        except (OSError, ValueError):
            previous = {}
    with connect(database_url) as conn:
        app_key, secret = previous.get("applicationKey"), previous.get("secret")
        if (isinstance(app_key, str) and isinstance(secret, str)
                and _key_still_valid(conn, app_key, secret)):
            return app_key, secret, False
        app_key = _demo_app(conn, app_key) or apps.create_app(conn, DEMO_APP_NAME)
        key = apps.create_key(conn, app_key, list(apps.SCOPES))
        conn.commit()
    return app_key, key.secret, True


def wait_for_files(folder: Path, names: tuple[str, ...], timeout: float,
                   alive: Any = None) -> bool:
    """True once every file exists (the sandbox writes them as it starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((folder / name).exists() for name in names):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.1)
    return False


def credential_commands(app_key: str, sandbox_dir: Path) -> list[tuple[str, list[str]]]:
    """The ``pushflow apps credentials`` calls that load the sandbox's FCM and APNs identity."""
    apns = json.loads((sandbox_dir / "apns.json").read_text())
    apns_args = ["pushflow", "apps", "credentials", app_key,
                 "--apns-key", str(sandbox_dir / "apns-key.p8"),
                 "--apns-key-id", apns["keyId"], "--apns-team-id", apns["teamId"],
                 "--apns-topic", apns["topic"]]
    if apns.get("sandbox", True):
        apns_args.append("--apns-sandbox")
    return [
        ("fcm", ["pushflow", "apps", "credentials", app_key,
                 "--fcm-service-account", str(sandbox_dir / "fcm-service-account.json")]),
        ("apns", apns_args),
    ]


def load_credentials(app_key: str, sandbox_dir: Path, env: dict[str, str]) -> list[str]:
    """Run each credentials command; returns the providers loaded, raises with the CLI's
    message when one is refused."""
    loaded = []
    for provider, argv in credential_commands(app_key, sandbox_dir):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"loading the sandbox {provider} credentials failed:"
                               f" {(done.stderr or done.stdout).strip()}")
        loaded.append(provider)
    return loaded
